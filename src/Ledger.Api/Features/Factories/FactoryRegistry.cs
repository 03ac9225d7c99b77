using System.Diagnostics.CodeAnalysis;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Npgsql;

namespace Ledger.Api.Features.Factories;

/// <summary>
/// The factory registry as the rules see it: a snapshot of <c>ledger.factories</c>, loaded at start-up, reloaded every
/// few seconds (another node may have changed it) and at once after a change through this node.
/// </summary>
internal sealed class FactoryRegistry(NpgsqlDataSource dataSource) : IFactoryRegistry
{
    private static readonly string List = Read("factories_list.sql");
    private static readonly string Upsert = Read("factories_upsert.sql");
    private static readonly string Seed = Read("factories_seed.sql");

    private volatile IReadOnlyDictionary<string, Factory> _byId = new Dictionary<string, Factory>();

    public IReadOnlyList<Factory> All => [.. _byId.Values.OrderBy(f => f.Id, StringComparer.Ordinal)];

    public bool TryFind(string id, [NotNullWhen(true)] out Factory? factory) => _byId.TryGetValue(id, out factory);

    /// <summary>Adds the reference factories that are missing; never overwrites what an operator changed.</summary>
    public async Task SeedAsync(IEnumerable<Factory> factories, CancellationToken cancellationToken)
    {
        foreach (var factory in factories)
        {
            await using var command = dataSource.CreateCommand(Seed);
            AddParameters(command, factory);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var factories = new Dictionary<string, Factory>(StringComparer.Ordinal);
        await using var command = dataSource.CreateCommand(List);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var factory = new Factory(
                Id: reader.GetString(0),
                Name: reader.GetString(1),
                Location: reader.GetString(2),
                Country: reader.GetString(3),
                TimeZoneId: reader.GetString(4),
                Status: FactoryStatuses.Parse(reader.GetString(5)),
                NameplateUnitsPerYear: reader.IsDBNull(6) ? null : reader.GetInt32(6),
                ConstructionStarted: reader.IsDBNull(7) ? null : reader.GetFieldValue<DateOnly>(7),
                ProductionStarted: reader.IsDBNull(8) ? null : reader.GetFieldValue<DateOnly>(8));
            factories[factory.Id] = factory;
        }

        _byId = factories;
    }

    /// <summary>Creates or replaces a factory; true when it is new.</summary>
    public async Task<bool> SaveAsync(Factory factory, CancellationToken cancellationToken)
    {
        bool created;
        await using (var command = dataSource.CreateCommand(Upsert))
        {
            AddParameters(command, factory);
            created = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        await RefreshAsync(cancellationToken);
        return created;
    }

    private static void AddParameters(NpgsqlCommand command, Factory factory)
    {
        var p = command.Parameters;
        p.AddWithValue("id", factory.Id);
        p.AddWithValue("name", factory.Name);
        p.AddWithValue("location", factory.Location);
        p.AddWithValue("country", factory.Country);
        p.AddWithValue("time_zone", factory.TimeZoneId);
        p.AddWithValue("status", FactoryStatuses.ToText(factory.Status));
        p.AddWithValue("nameplate_units_per_year", (object?)factory.NameplateUnitsPerYear ?? DBNull.Value);
        p.AddWithValue("construction_started", NpgsqlTypes.NpgsqlDbType.Date, (object?)factory.ConstructionStarted ?? DBNull.Value);
        p.AddWithValue("production_started", NpgsqlTypes.NpgsqlDbType.Date, (object?)factory.ProductionStarted ?? DBNull.Value);
    }

    private static string Read(string file) => SqlResources.Read(typeof(FactoryRegistry).Assembly, file);
}

/// <summary>Seeds the registry once migrations have run, then keeps this node's snapshot fresh.</summary>
internal sealed class FactoryRegistryRefresher(FactoryRegistry registry, ILogger<FactoryRegistryRefresher> logger) : BackgroundService
{
    /// <summary>How stale another node's change may be here, at most (documented in docs/api.md).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the server takes requests: a decision must never see an empty registry.
        await registry.SeedAsync(FactorySeed.All, cancellationToken);
        await registry.RefreshAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await registry.RefreshAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning(e, "Could not refresh the factory registry; keeping the last snapshot");
            }
        }
    }
}

/// <summary>The wire and stored names of <see cref="FactoryStatus"/>.</summary>
internal static class FactoryStatuses
{
    public static readonly IReadOnlyList<string> Names = ["planned", "under-construction", "producing", "closed"];

    public static string ToText(FactoryStatus status) => status switch
    {
        FactoryStatus.Planned => "planned",
        FactoryStatus.UnderConstruction => "under-construction",
        FactoryStatus.Producing => "producing",
        FactoryStatus.Closed => "closed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a factory status."),
    };

    public static bool TryParse(string? text, out FactoryStatus status)
    {
        foreach (var candidate in Enum.GetValues<FactoryStatus>())
        {
            if (ToText(candidate) == text)
            {
                status = candidate;
                return true;
            }
        }

        status = default;
        return false;
    }

    public static FactoryStatus Parse(string text) =>
        TryParse(text, out var status) ? status : throw new InvalidOperationException($"Unknown factory status '{text}' in ledger.factories.");
}
