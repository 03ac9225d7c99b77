using System.Globalization;
using Ledger.Api.Access;
using Ledger.Api.Features.Integration.Units;
using Ledger.Client;
using Ledger.Demo;
using Ledger.EventStore;
using Npgsql;
using NpgsqlTypes;
using Spectre.Console;

namespace Ledger.Cli.Demo;

/// <summary>
/// <c>ledger run</c> on an empty ledger: the demo history, posted through the typed client by the factories' line
/// systems, each with a line key of its own made for the purpose and revoked afterwards, then the read models and the
/// integration journal caught up.
/// </summary>
internal static class DemoSeeding
{
    /// <summary>How long to wait for the asynchronous read models to apply the history before saying they are still at it.</summary>
    private static readonly TimeSpan CatchUpLimit = TimeSpan.FromMinutes(3);

    /// <summary>Whether the ledger has no events at all (a ledger with any is never seeded).</summary>
    private static async Task<bool> IsEmptyAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var dataSource = EventStoreDataSource.Create(connectionString, "ledger-cli");
        // A one-shot look at stored history: no need to run Marten's high-water detection for it.
        await using var store = new EventStore.EventStore(dataSource, new EventStoreOptions { DetectHighWater = false });
        return await store.GetHeadPositionAsync(cancellationToken) == 0;
    }

    /// <summary>
    /// Generates the demo history up to now (or up to <paramref name="asOf"/>: the history of a seeding stopped
    /// half-way), and its one-line account, on a thread-pool thread: <c>ledger run</c> starts it as soon as it knows the
    /// ledger is empty, so that its second or two of one core overlaps the migrations and the service's start instead of
    /// following them (issue 15, P8).
    /// </summary>
    public static Task<GeneratedHistory> GenerateAsync(DateTimeOffset? asOf = null) => Task.Run(() =>
    {
        var history = DemoHistory.Generate(new DemoHistoryOptions { Until = asOf ?? TimeProvider.System.GetUtcNow() });
        return new GeneratedHistory(history, DemoSeeder.Describe(history));
    });

    /// <summary>
    /// What <c>ledger run</c> seeds into a ledger it did not just create: the whole history into an empty ledger; the rest
    /// of the history into a ledger whose events are all of one demo history but not all of it (a seeding stopped
    /// half-way, by Ctrl+C or a crash); nothing (null, said on the console) into any other ledger.
    /// </summary>
    /// <remarks>
    /// Every post of a seeding carries its history's as-of in its correlation id (<see cref="DemoSeeder.CorrelationId"/>),
    /// and the history is the same for the same as-of, event ids included: so the ledger's own events say which history
    /// they began, and only a ledger holding nothing but events of that history is ever seeded again. A ledger with one
    /// event of anything else (an event posted by anyone else, or a demo of another version of this tool) is not.
    /// </remarks>
    public static async Task<DemoSeedingPlan?> PlanAsync(string connectionString, CancellationToken cancellationToken)
    {
        if (await IsEmptyAsync(connectionString, cancellationToken)) return new DemoSeedingPlan(GenerateAsync(), new HashSet<Guid>());
        if (await FindInterruptedAsync(connectionString, cancellationToken) is { } interrupted) return interrupted;
        Console.WriteLine("The ledger holds events already: the demo history is seeded only into an empty ledger.");
        return null;
    }

    private static async Task<DemoSeedingPlan?> FindInterruptedAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var dataSource = EventStoreDataSource.Create(connectionString, "ledger-cli");
        // Marten's own tombstones (left by appends that failed after drawing their positions) are no one's events.
        const string Recorded = "from ledger.mt_events where not (stream_id = 'mt_tombstone' and type = 'tombstone')";
        await using (var first = dataSource.CreateCommand($"select correlation_id {Recorded} order by seq_id limit 1"))
        {
            if (!DemoSeeder.TryReadAsOf(await first.ExecuteScalarAsync(cancellationToken) as string, out var asOf)) return null;
            var generating = GenerateAsync(asOf);
            var recorded = new HashSet<Guid>();
            await using (var ids = dataSource.CreateCommand($"select id {Recorded}"))
            await using (var reader = await ids.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken)) recorded.Add(reader.GetGuid(0));
            }

            var history = (await generating.WaitAsync(cancellationToken)).History;
            if (recorded.Count >= history.Events.Count) return null;
            var ofHistory = history.Events.Select(e => e.EventId).ToHashSet();
            if (!recorded.All(ofHistory.Contains)) return null;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"The demo seeding begun on this ledger was interrupted: it holds {recorded.Count:N0} of the history's {history.Events.Count:N0} events (as of {asOf:yyyy-MM-dd HH:mm:ss} UTC). Posting the rest."));
            return new DemoSeedingPlan(generating, recorded);
        }
    }

    /// <summary>Seeds the history into the ledger listening at <paramref name="baseAddress"/>.</summary>
    /// <param name="connectionString">The ledger's database, for creating and revoking the line systems' keys.</param>
    /// <param name="baseAddress">Where the service listens.</param>
    /// <param name="adminKey">A key that may read the projections' status.</param>
    /// <param name="plan">The history from <see cref="GenerateAsync"/>, begun earlier, and the events of it the ledger
    /// holds already (those of a seeding stopped half-way, <see cref="PlanAsync"/>), which are not posted again.</param>
    /// <param name="journal">Whether integration events go to the local journal (no broker): then the seeding also waits
    /// for the journal to hold the history's unit notifications.</param>
    /// <param name="fill">Fills the read models held while the history was posted and releases them
    /// (<see cref="EventStore.EventStore.FillHeldProjectionsAsync"/>); returns those it filled (none: nothing was held).</param>
    /// <param name="cancellationToken">Ctrl+C.</param>
    public static async Task SeedAsync(
        string connectionString, Uri baseAddress, string adminKey, DemoSeedingPlan plan, bool journal,
        Func<CancellationToken, Task<IReadOnlyList<string>>> fill, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(fill);
        var generating = plan.Generating;
        var (history, description) = generating.IsCompletedSuccessfully
            ? generating.Result
            : await AnsiConsole.Status().StartAsync("Generating the demo history", _ => generating.WaitAsync(cancellationToken));
        AnsiConsole.MarkupLine($"Seeding the demo history: [bold]{Markup.Escape(description)}[/].");
        var toPost = plan.Recorded.Count == 0 ? history : history.Without(plan.Recorded);

        await using var dataSource = EventStoreDataSource.Create(connectionString, "ledger-cli");
        var keys = new ApiKeyStore(dataSource, TimeProvider.System);
        var lineKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(100) };
        DemoSeedResult result;
        try
        {
            foreach (var actor in history.Actors)
            {
                // A key left live by an interrupted earlier start has this name; names are unique among live keys.
                await keys.RevokeAsync(actor.Name, cancellationToken);
                lineKeys[actor.Name] = (await keys.CreateAsync(actor.Name, LedgerRole.Line, actor.FactoryId, cancellationToken)).Key;
            }

            var seeder = new DemoSeeder(actor => new LedgerClient(http, new LedgerClientOptions { ApiKey = lineKeys[actor.Name] }));
            result = await Progress().StartAsync(async context =>
            {
                var bar = context.AddTask("posting events", maxValue: toPost.Events.Count);
                var seeded = await seeder.SeedAsync(toPost, new Progress<DemoSeedProgress>(p => bar.Value = Math.Max(bar.Value, p.EventsPosted)), cancellationToken);
                bar.Value = bar.MaxValue;
                return seeded;
            });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync(
                "Seeding was interrupted: the ledger holds part of the demo history. The next `ledger run` on it posts the rest " +
                "(or, to start over, remove its data directory, .ledger by default).");
            throw;
        }
        finally
        {
            foreach (var name in lineKeys.Keys) await keys.RevokeAsync(name, CancellationToken.None);
        }

        var seconds = result.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Posted {result.Events:N0} events in {result.Requests:N0} requests in {seconds:0.0} s ({result.Events / Math.Max(seconds, 0.001):N0} events/s)."));

        var filling = TimeProvider.System.GetTimestamp();
        try
        {
            var filled = await AnsiConsole.Status().StartAsync("Filling the read models by the bulk replay", _ => fill(cancellationToken));
            if (filled.Count > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Filled {string.Join(", ", filled)} by the bulk replay in {TimeProvider.System.GetElapsedTime(filling).TotalSeconds:0.0} s."));
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The fill released the read models on its way out: the daemon applies the history itself, only slower.
            await Console.Error.WriteLineAsync($"Filling the read models by the bulk replay failed ({e.Message}); the daemon applies the history to them instead.");
        }

        await CatchUpAsync(new LedgerClient(http, new LedgerClientOptions { ApiKey = adminKey }), result.Position, cancellationToken);
        if (journal) await JournalCatchUpAsync(dataSource, history, cancellationToken);
    }

    /// <summary>
    /// Shows the asynchronous read models applying the history, until they reach its last position (a read model's
    /// position is the position of the last event it applied, so reaching the last posted one means it has them all).
    /// </summary>
    private static async Task CatchUpAsync(LedgerClient admin, long position, CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        var caughtUp = await Progress().StartAsync(async context =>
        {
            var bars = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
            while (true)
            {
                var projections = (await admin.GetProjectionsAsync(cancellationToken)).Where(p => p.Cursor != "inline").ToList();
                foreach (var projection in projections)
                {
                    if (!bars.TryGetValue(projection.Name, out var bar)) bars[projection.Name] = bar = context.AddTask($"read model {projection.Name}", maxValue: position);
                    bar.Value = Math.Min(position, projection.Position);
                }

                if (projections.All(p => p.Position >= position)) return true;
                if (projections.Any(p => p.State == "failed") || TimeProvider.System.GetElapsedTime(started) > CatchUpLimit) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
            }
        });
        var elapsed = TimeProvider.System.GetElapsedTime(started).TotalSeconds;
        Console.WriteLine(caughtUp
            ? string.Create(CultureInfo.InvariantCulture, $"The read models caught up in {elapsed:0.0} s.")
            : "The read models are still catching up (or one failed): see GET /api/v1/projections or `ledger projections status`.");
    }

    /// <summary>
    /// Shows the integration journal (docs/integration-events.md) receiving the history's unit notifications, until it holds
    /// one for every shipment, delivery and commissioning posted: the integration subscription publishes them from the
    /// committed feed, behind the posts, so that a newcomer who opens the journal when the URLs print finds all of them.
    /// A unit notification's message id is its event's id, so the seeded ones are known before they arrive.
    /// </summary>
    private static async Task JournalCatchUpAsync(NpgsqlDataSource dataSource, DemoHistory history, CancellationToken cancellationToken)
    {
        Guid[] announced = [.. history.Events.Where(e => UnitNotifications.AnnouncedEvents.Contains(e.Data.GetType())).Select(e => e.EventId)];
        var started = TimeProvider.System.GetTimestamp();
        var complete = await Progress().StartAsync(async context =>
        {
            var bar = context.AddTask("integration journal", maxValue: announced.Length);
            while (true)
            {
                await using var command = dataSource.CreateCommand("select count(*) from ledger.integration_events where message_id = any(@ids)");
                command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = announced });
                var journaled = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
                bar.Value = journaled;
                if (journaled >= announced.Length) return true;
                if (TimeProvider.System.GetElapsedTime(started) > CatchUpLimit) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
            }
        });
        var elapsed = TimeProvider.System.GetElapsedTime(started).TotalSeconds;
        Console.WriteLine(complete
            ? string.Create(CultureInfo.InvariantCulture, $"The integration journal holds all {announced.Length:N0} unit notifications ({elapsed:0.0} s after the read models).")
            : "The integration journal is still receiving the unit notifications: see GET /api/v1/integration-events.");
    }

    private static Spectre.Console.Progress Progress() => AnsiConsole.Progress()
        .AutoClear(false)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn());
}

/// <summary>What <c>ledger run</c> seeds (<see cref="DemoSeeding.PlanAsync"/>).</summary>
/// <param name="Generating">The history, being generated.</param>
/// <param name="Recorded">The ids of its events the ledger holds already (none: an empty ledger).</param>
internal sealed record DemoSeedingPlan(Task<GeneratedHistory> Generating, IReadOnlySet<Guid> Recorded);

/// <summary>A demo history and its one-line account (<see cref="DemoSeeder.Describe"/>).</summary>
/// <param name="History">The history.</param>
/// <param name="Description">What it holds, for the console.</param>
internal sealed record GeneratedHistory(DemoHistory History, string Description);
