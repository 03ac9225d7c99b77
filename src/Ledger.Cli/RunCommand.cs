using System.CommandLine;
using System.Runtime.InteropServices;
using Ledger.Api;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Cli.Demo;
using Ledger.Client;
using Ledger.EventStore;
using Ledger.LocalPostgres;
using Ledger.Api.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ledger.Cli;

/// <summary>
/// <c>ledger run</c>: the newcomer's one command. The service on the embedded PostgreSQL, with an admin key, and on an
/// empty ledger the demo history (unless <c>--no-demo</c>).
/// </summary>
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
        var noDemo = new Option<bool>("--no-demo")
        {
            Description = "Leave an empty ledger empty: do not seed the demo history.",
        };
        var rabbitMq = new Option<string?>("--rabbitmq")
        {
            Description = "Publish integration events to this RabbitMQ broker (amqp://user:password@host:5672/), exchange ledger.integration, instead of the local journal (docs/integration-events.md).",
        };
        var command = new Command("run", "Run the ledger service on its embedded local PostgreSQL (or on ConnectionStrings__Ledger); seed the demo history into an empty ledger.")
        {
            dataDirectory,
            urls,
            noDemo,
            rabbitMq,
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
                // A cluster created just now holds no events, so it will be seeded: its history is generated while the
                // migrations run and the service starts, not after them. On any other database it waits for the look below.
                var demo = !parse.GetValue(noDemo);
                var generating = demo && database.Created ? DemoSeeding.GenerateAsync() : null;
                await database.MigrateAsync(cancellationToken);
                var adminKey = await CreateDemoAdminKeyAsync(database.ConnectionString, cancellationToken);
                var listen = parse.GetValue(urls)!;
                // Decided before the service starts, since whether it holds the read models depends on it.
                var plan = !demo ? null
                    : generating is not null ? new DemoSeedingPlan(generating, new HashSet<Guid>())
                    : await DemoSeeding.PlanAsync(database.ConnectionString, cancellationToken);

                await using var app = LedgerApp.Create([], builder =>
                {
                    builder.Configuration["ConnectionStrings:Ledger"] = database.ConnectionString;
                    builder.Configuration[$"ConnectionStrings:{DatabaseRoles.MigrationsConnectionStringName}"] = database.MigrationsConnectionString;
                    builder.WebHost.UseUrls(listen);
                    if (parse.GetValue(rabbitMq) is { Length: > 0 } broker) builder.Configuration[IntegrationTransport.RabbitMqSetting] = broker;
                    // The history goes into the embedded cluster (created just now, or where a seeding was stopped half-way),
                    // where no other node runs: the read models wait while it is posted, and the rebuild's bulk replay fills
                    // them afterwards (a tenth of the CPU the daemon spends applying it event by event; docs/benchmarks.md,
                    // issue 15 P8), or carries on the fill a stop interrupted. The integration subscriptions run meanwhile.
                    if (plan is not null && database.IsEmbedded) builder.Services.HoldReadModelsUntilFilled();
                    // As src/Ledger.Api/appsettings.json has it (run from the repository root, that file is not the
                    // content root's): a line per request would bury the progress of the demo history and the URLs.
                    builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
                    // Marten's daemon logs every batch it applies at Information (a line a few milliseconds apart while
                    // the demo history is projected).
                    builder.Logging.AddFilter("Marten", LogLevel.Warning);
                    // Wolverine's start-up and node-agent lines, likewise.
                    builder.Logging.AddFilter("Wolverine", LogLevel.Warning);
                    // The fill's steps (it runs as a rebuild: shadow tables, scan, swap, a dozen lines); the seeding prints
                    // one line for it, and failures still show.
                    builder.Logging.AddFilter("Ledger.EventStore.Projections.ProjectionRebuild", LogLevel.Warning);
                });
                await app.StartAsync(cancellationToken);
                try
                {
                    var baseUrl = LocalAddress(app.Urls.FirstOrDefault() ?? listen.Split(';')[0]);

                    var seeded = false;
                    var store = app.Services.GetRequiredService<EventStore.EventStore>();
                    try
                    {
                        if (plan is not null)
                        {
                            try
                            {
                                await DemoSeeding.SeedAsync(database.ConnectionString, new Uri(baseUrl), adminKey, plan,
                                    journal: IntegrationTransport.BrokerUri(app.Configuration) is null, store.FillHeldProjectionsAsync, cancellationToken);
                                seeded = true;
                            }
                            catch (Exception e) when (e is LedgerProblemException or HttpRequestException)
                            {
                                // A defect of the demo, not of the ledger: the service stays up, to look at what was recorded.
                                await Console.Error.WriteLineAsync($"Seeding the demo history failed: {e.Message}");
                            }
                        }
                    }
                    finally
                    {
                        // Whatever became of the seeding, the read models run: a fill that did not happen (the seeding
                        // failed or was stopped) releases them unfilled, and the daemon applies what was posted itself.
                        if (store.Options.HeldProjections.Count > 0 && !cancellationToken.IsCancellationRequested)
                        {
                            await store.FillHeldProjectionsAsync(cancellationToken);
                        }
                    }

                    Console.WriteLine();
                    Console.WriteLine(database.IsEmbedded
                        ? $"The ledger is running on its embedded PostgreSQL ({database.ConnectionString}), as role {LedgerDatabase.ServiceRole}."
                        : "The ledger is running on the server from ConnectionStrings__Ledger.");
                    Console.WriteLine($"  API         {baseUrl}/api/v1   (try: curl -H \"Authorization: Bearer $KEY\" {baseUrl}/api/v1/factories/shanghai/milestones)");
                    Console.WriteLine($"  Swagger UI  {baseUrl}/swagger");
                    Console.WriteLine($"  dashboard   {baseUrl}/dashboard");
                    Console.WriteLine($"  health      {baseUrl}/health/live");
                    Console.WriteLine(IntegrationTransport.BrokerUri(app.Configuration) is { } broker
                        ? $"  integration events  RabbitMQ exchange {IntegrationTransport.Exchange} on {broker.Authority}"
                        : $"  integration events  {baseUrl}/api/v1/integration-events (the local journal; --rabbitmq sends them to a broker)");
                    Console.WriteLine($"  admin key   {adminKey}");
                    Console.WriteLine("              (a new demo-admin key each start; the previous one is revoked. `ledger keys create` makes more.)");
                    Console.WriteLine();
                    if (seeded) Console.WriteLine("The demo history is Lathrop since 2022 and Shanghai since February 2025, posted by their line systems (docs/api.md).");
                    Console.WriteLine("Press Ctrl+C to stop" + (database.IsEmbedded ? " (the embedded PostgreSQL stops with it)." : "."));

                    await Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                    Console.WriteLine("Stopping.");
                }
                finally
                {
                    // Also when stopped while seeding: the daemon and the requests end before the database does.
                    await app.StopAsync(CancellationToken.None);
                }

                return 0;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopped while starting or seeding; the database and the service are disposed on the way out.
                Console.WriteLine("Stopped.");
                return 130;
            }
            catch (PostgresNotInstalledException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }
        });
        return command;
    }

    /// <summary>
    /// An address of the service that a client on this machine can connect to, and a person can paste into a browser:
    /// a wildcard host (<c>0.0.0.0</c>, <c>[::]</c>, <c>*</c>, <c>+</c>) becomes <c>localhost</c>.
    /// </summary>
    internal static string LocalAddress(string url)
    {
        var wildcard = new[] { "://0.0.0.0:", "://[::]:", "://*:", "://+:" }.FirstOrDefault(w => url.Contains(w, StringComparison.Ordinal));
        if (wildcard is not null) url = url.Replace(wildcard, "://localhost:", StringComparison.Ordinal);
        return url.TrimEnd('/');
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
