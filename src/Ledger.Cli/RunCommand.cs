using System.CommandLine;
using System.Runtime.InteropServices;
using Ledger.Api;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults;
using Ledger.EventStore;
using Ledger.LocalPostgres;
using Microsoft.AspNetCore.Hosting;

namespace Ledger.Cli;

/// <summary><c>ledger run</c>: the newcomer's one command. The service on the embedded PostgreSQL, with an admin key.</summary>
internal static class RunCommand
{
    private const string DemoAdminKeyName = "demo-admin";

    public static Command Create()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var urls = new Option<string>("--urls")
        {
            Description = "Where the HTTP service listens.",
            DefaultValueFactory = _ => "http://127.0.0.1:5080",
        };
        var command = new Command("run", "Run the ledger service on its embedded local PostgreSQL (or on ConnectionStrings__Ledger).")
        {
            dataDirectory,
            urls,
        };
        command.SetAction(async (parse, invocationToken) =>
        {
            // Ctrl+C (SIGINT) and SIGTERM end the service instead of the process, so the cluster is stopped cleanly.
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
                await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken, owner: true);
                await database.MigrateAsync(cancellationToken);
                var adminKey = await CreateDemoAdminKeyAsync(database.ConnectionString, cancellationToken);
                var listen = parse.GetValue(urls)!;

                await using var app = LedgerApp.Create([], builder =>
                {
                    builder.Configuration["ConnectionStrings:Ledger"] = database.ConnectionString;
                    builder.Configuration[$"ConnectionStrings:{DatabaseRoles.MigrationsConnectionStringName}"] = database.MigrationsConnectionString;
                    builder.WebHost.UseUrls(listen);
                });
                await app.StartAsync(cancellationToken);

                var baseUrl = listen.Split(';')[0].TrimEnd('/');
                Console.WriteLine();
                Console.WriteLine(database.IsEmbedded
                    ? $"The ledger is running on its embedded PostgreSQL ({database.ConnectionString}), as role {LedgerDatabase.ServiceRole}."
                    : "The ledger is running on the server from ConnectionStrings__Ledger.");
                Console.WriteLine($"  API        {baseUrl}/api/v1   (try: curl -H \"Authorization: Bearer $KEY\" {baseUrl}/api/v1/whoami)");
                Console.WriteLine($"  health     {baseUrl}/health/live");
                Console.WriteLine($"  admin key  {adminKey}");
                Console.WriteLine("             (a new demo-admin key each start; the previous one is revoked. `ledger keys create` makes more.)");
                Console.WriteLine();
                Console.WriteLine("The demo history, Swagger UI and the dashboard arrive with the newcomer-experience issue; until then");
                Console.WriteLine("the ledger starts empty: post events (docs/api.md) and read them back as units and reports.");
                Console.WriteLine("Press Ctrl+C to stop" + (database.IsEmbedded ? " (the embedded PostgreSQL stops with it)." : "."));

                await Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                Console.WriteLine("Stopping.");
                await app.StopAsync(CancellationToken.None);
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

    private static async Task<string> CreateDemoAdminKeyAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var dataSource = EventStoreDataSource.Create(connectionString, "ledger-cli");
        var keys = new ApiKeyStore(dataSource, TimeProvider.System);
        await keys.RevokeAsync(DemoAdminKeyName, cancellationToken);
        var created = await keys.CreateAsync(DemoAdminKeyName, LedgerRole.Admin, factoryId: null, cancellationToken);
        return created.Key;
    }
}
