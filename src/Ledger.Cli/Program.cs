using System.CommandLine;
using Ledger.Cli;

var root = new RootCommand("The Megapack production ledger.");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(KeysCommand.Create());
root.Subcommands.Add(ProjectionsCommand.Create());
return await root.Parse(args).InvokeAsync();
