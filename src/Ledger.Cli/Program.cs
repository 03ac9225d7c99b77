using System.CommandLine;
using Ledger.Cli;

var root = new RootCommand("The Megapack production ledger.");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(KeysCommand.Create());
root.Subcommands.Add(ProjectionsCommand.Create());
root.Subcommands.Add(DeadLettersCommand.Create());
foreach (var command in AuditCommands.Create()) root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
