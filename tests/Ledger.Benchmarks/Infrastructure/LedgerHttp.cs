using System.Net.Http.Headers;
using System.Text.Json;
using Ledger.Api.Access;
using Npgsql;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>The API keys the benchmark acts with: one line key per factory (a line system posts for its own factory), and readers.</summary>
internal sealed record BenchmarkKeys(IReadOnlyDictionary<string, string> LineKeys, string Reporting, string Auditor, string Admin)
{
    /// <summary>Creates them in the service's database, as <c>ledger keys create</c> does.</summary>
    public static async Task<BenchmarkKeys> CreateAsync(string connectionString, string adminKey, IEnumerable<string> factories, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var store = new ApiKeyStore(dataSource, TimeProvider.System);
        var lineKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var factory in factories)
        {
            lineKeys[factory] = (await store.CreateAsync($"{factory}-mes", LedgerRole.Line, factory, cancellationToken)).Key;
        }

        var reporting = (await store.CreateAsync("benchmark-reporting", LedgerRole.Reporting, null, cancellationToken)).Key;
        var auditor = (await store.CreateAsync("benchmark-auditor", LedgerRole.Auditor, null, cancellationToken)).Key;
        return new BenchmarkKeys(lineKeys, reporting, auditor, adminKey);
    }
}

/// <summary>HttpClient on a SocketsHttpHandler with exactly as many connections as the phase says, over HTTP/1.1 on loopback.</summary>
internal static class LedgerHttp
{
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    public static HttpClient Create(Uri baseAddress, int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
    })
    {
        BaseAddress = baseAddress,
        Timeout = TimeSpan.FromSeconds(60),
        DefaultRequestVersion = new Version(1, 1),
    };

    public static HttpRequestMessage Request(HttpMethod method, string path, string key, byte[]? json = null)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (json is not null)
        {
            request.Content = new ByteArrayContent(json);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        return request;
    }
}
