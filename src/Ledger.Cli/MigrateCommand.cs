using System.CommandLine;

namespace Ledger.Cli;

/// <summary><c>ledger migrate</c>: apply pending migrations and exit (for deployments that migrate before rolling nodes).</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var command = new Command("migrate", "Apply pending schema migrations.") { dataDirectory };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
            var applied = await database.MigrateAsync(cancellationToken);
            foreach (var migration in applied) Console.WriteLine($"applied {migration.Module}/{migration.Version:D4}_{migration.Name}");
            Console.WriteLine(applied.Count == 0 ? "The schema is up to date." : $"{applied.Count} migration(s) applied.");
            return 0;
        });
        return command;
    }
}
