using Ledger.EventStore;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// Who owns each projection, as PostgreSQL sees it: the sessions holding the projection's HotCold advisory lock (Marten's
/// per-shard lock, the truth; see docs/projections.md), the node those sessions belong to (their application name is
/// <c>ledger-api/&lt;node id&gt;</c>), and what the ledger's status row says.
/// </summary>
internal sealed record ProjectionOwner(string Name, long Holders, string? HolderNode, string? StatusOwner)
{
    /// <summary>Exactly one session holds the lock, and it is a live node's.</summary>
    public bool IsSingleOwner(IEnumerable<string> liveNodes) => Holders == 1 && HolderNode is not null && liveNodes.Contains(HolderNode);

    public override string ToString() => $"{Name}: {Holders} holder(s), node {HolderNode ?? "-"}, status says {StatusOwner ?? "-"}";
}

internal static class Ownership
{
    private static readonly string[] Projections = [.. Ledger.Api.Features.ProjectionCatalog.Create(Ledger.Production.Factories.InMemoryFactoryRegistry.Seeded).Select(p => p.Name)];

    public static async Task<IReadOnlyList<ProjectionOwner>> ReadAsync(NpgsqlDataSource superuser)
    {
        // A bigint advisory lock shows as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1.
        await using var command = superuser.CreateCommand("""
            select p.name,
                   count(l.pid),
                   string_agg(distinct substr(a.application_name, length('ledger-api/') + 1), ','),
                   max(c.owner_node)
            from unnest(@names::text[], @keys::bigint[]) as p(name, key)
            left join pg_locks l on l.locktype = 'advisory' and l.granted and l.objsubid = 1
                                and l.classid::bigint = (p.key >> 32) and l.objid::bigint = (p.key & 4294967295)
            left join pg_stat_activity a on a.pid = l.pid and a.application_name like 'ledger-api/%'
            left join ledger.projection_checkpoints c on c.name = p.name
            group by p.name
            order by p.name
            """);
        command.Parameters.AddWithValue("names", Projections);
        command.Parameters.AddWithValue("keys", Projections.Select(MartenSetup.OwnershipLockKey).ToArray());
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var owners = new List<ProjectionOwner>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            owners.Add(new ProjectionOwner(reader.GetString(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3)));
        }

        return owners;
    }

    /// <summary>Waits until every projection has exactly one owner among <paramref name="liveNodes"/>.</summary>
    public static async Task<IReadOnlyList<ProjectionOwner>> SettledAsync(NpgsqlDataSource superuser, IReadOnlyCollection<string> liveNodes, TimeSpan timeout)
    {
        IReadOnlyList<ProjectionOwner> owners = [];
        await Eventually.HoldsAsync(async () =>
        {
            owners = await ReadAsync(superuser);
            return owners.Count > 0 && owners.All(o => o.IsSingleOwner(liveNodes));
        }, "every projection has exactly one owner among " + string.Join(", ", liveNodes), timeout, () => string.Join("; ", owners));
        return owners;
    }
}
