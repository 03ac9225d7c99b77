using System.CommandLine;
using Ledger.EventStore;
using Ledger.Production.Units;

namespace Ledger.Cli;

/// <summary><c>ledger migrate</c>: apply pending migrations and exit (for deployments that migrate before rolling nodes).</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var martenScript = new Option<FileInfo>("--marten-script")
        {
            Description = "Write the SQL that creates Marten's schema for the ledger's configuration to this file and exit, " +
                          "without touching a database (how Sql/Migrations/0004_marten_events.sql was made; docs/operations.md).",
        };
        var command = new Command("migrate", "Apply pending schema migrations.") { dataDirectory, martenScript };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(martenScript) is { } script)
            {
                // The stored names do not reach the schema today; they are passed so the script comes from exactly the
                // configuration the service runs.
                await File.WriteAllTextAsync(script.FullName, MartenSetup.CreationScript(UnitEvents.StoredNamesByType), cancellationToken);
                Console.WriteLine($"Wrote Marten's creation script to {script.FullName}");
                return 0;
            }

            await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
            var applied = await database.MigrateAsync(cancellationToken);
            foreach (var migration in applied) Console.WriteLine($"applied {migration.Module}/{migration.Version:D4}_{migration.Name}");
            Console.WriteLine(applied.Count == 0 ? "The schema is up to date." : $"{applied.Count} migration(s) applied.");
            return 0;
        });
        return command;
    }
}
