using System.CommandLine;
using System.Runtime.InteropServices;
using Ledger.LocalPostgres;

namespace Ledger.Cli;

/// <summary><c>ledger run</c>: the newcomer's one command.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var command = new Command("run", "Run the ledger on its embedded local PostgreSQL (or on ConnectionStrings__Ledger).")
        {
            dataDirectory,
        };
        command.SetAction(async (parse, invocationToken) =>
        {
            // Ctrl+C (SIGINT) and SIGTERM end the wait below instead of the process, so the cluster is stopped cleanly.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            var cancellationToken = stop.Token;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

            try
            {
                await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
                var applied = await database.MigrateAsync(cancellationToken);
                Console.WriteLine(database.IsEmbedded ? "Embedded PostgreSQL is running." : "Using the server from ConnectionStrings__Ledger.");
                Console.WriteLine($"Migrations applied now: {applied.Count}. Connection string: {database.ConnectionString}");
                Console.WriteLine();
                Console.WriteLine("The event store's schema is ready. The HTTP service, the demo history and the dashboard arrive");
                Console.WriteLine("with the write-path, projections and newcomer issues; until then this command runs the database only.");
                Console.WriteLine("Press Ctrl+C to stop" + (database.IsEmbedded ? " (the embedded cluster stops with it)." : "."));
                await Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                Console.WriteLine("Stopping.");
                return 0;
            }
            catch (PostgresNotInstalledException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }
        });
        return command;
    }
}
