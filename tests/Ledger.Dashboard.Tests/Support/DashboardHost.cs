using System.Net;
using System.Net.Http.Headers;
using Ledger.Api.Access;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Dashboard.Tests.Support;

/// <summary>
/// The ledger on Kestrel with a real socket on 127.0.0.1, so a real browser can load the dashboard from it, against a
/// test database. A clock given to the constructor replaces the ledger's clock (see <see cref="ShiftedClock"/>).
/// </summary>
internal sealed class DashboardHost : WebApplicationFactory<Program>
{
    // Program ends in RunJasperFxCommands, which under a test host would otherwise hand back without starting it
    // (CRITTER-STACK.md: every route 404s).
    static DashboardHost() => JasperFx.CommandLine.JasperFxEnvironment.AutoStartHost = true;

    private readonly string connectionString;
    private readonly TimeProvider? clock;

    public DashboardHost(string connectionString, TimeProvider? clock = null)
    {
        this.connectionString = connectionString;
        this.clock = clock;
        UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        StartServer();
        BaseAddress = new Uri(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
    }

    /// <summary>Where the service listens, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Creates a key of <paramref name="role"/> (line keys act for <paramref name="factoryId"/>) and returns its text.</summary>
    public async Task<string> CreateKeyAsync(LedgerRole role, string name, string? factoryId = null)
    {
        var created = await Services.GetRequiredService<ApiKeyStore>().CreateAsync(name, role, factoryId, TestContext.Current.CancellationToken);
        return created.Key;
    }

    /// <summary>A client of the real socket, sending <paramref name="key"/> as its Bearer token when given.</summary>
    public HttpClient CreateSocketClient(string? key = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:Ledger", connectionString);
        if (clock is not null) builder.ConfigureTestServices(services => services.AddSingleton(clock));
    }
}

/// <summary>
/// The ledger's clock started at a chosen moment and running at the real rate from there. The dashboard test sets the
/// ledger's "now" to a day in 2025 so that a compact history — Shanghai's first eight months — is the whole of the
/// ledger up to now; the reports' default ranges ("to today") and the write rules ("not in the future") follow it,
/// as they would on that day. Timers and timestamps for measuring durations are the system's.
/// </summary>
internal sealed class ShiftedClock(DateTimeOffset start) : TimeProvider
{
    private readonly long startedAt = TimeProvider.System.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => start + TimeProvider.System.GetElapsedTime(startedAt);
}
