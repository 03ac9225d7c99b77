using System.Net;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Client.Tests.Support;
using Ledger.Production.Units;
using Ledger.Testing;

namespace Ledger.Client.Tests;

/// <summary>Every error answer reaches the caller as a <see cref="LedgerProblemException"/> carrying the RFC 9457 problem.</summary>
public sealed class ProblemTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private LedgerClient _line = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _line = await _api.ClientAsync(LedgerRole.Line);

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task A_broken_rule_is_a_rule_violation_with_its_code_index_and_the_callers_correlation_id()
    {
        var serial = Lines.NewSerial();
        await _line.RecordAsync(serial, Lines.Built(), cancellationToken: Ct);

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => _line.RecordAsync(serial,
            [Lines.Tested(passed: false), Lines.Tested(at: Lines.Day.AddHours(3))], new RecordOptions { CorrelationId = "eol-station-1:run-42" }, Ct));

        var problem = refused.Problem;
        Assert.Equal((LedgerProblemTypes.RuleViolation, 422, HttpStatusCode.UnprocessableContent), (problem.Type, problem.Status, refused.StatusCode));
        Assert.Equal("rework-required", problem.Code);
        Assert.Equal(1, problem.Extensions["index"].GetInt32());
        Assert.Equal(serial, problem.StringExtension("serial"));
        Assert.Equal("eol-station-1:run-42", problem.CorrelationId);
        Assert.False(string.IsNullOrEmpty(problem.Title));
        Assert.Contains("rework", problem.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("eol-station-1:run-42", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await (await _api.ClientAsync(LedgerRole.Reporting)).GetUnitAsync(serial, Ct))!.Version);
    }

    [Fact]
    public async Task Invalid_fields_are_a_validation_failure_naming_each_field()
    {
        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => _line.RecordBatchAsync(
        [
            Lines.Built().For(Lines.NewSerial()),
            new UnitEventToRecord(Lines.NewSerial(), new UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 0m), Lines.Day),
            new UnitEventToRecord(Lines.NewSerial(), new UnitShipped(new Destination("UK", "Pillswood"), "Maersk", "SHP-1"), Lines.Day),
        ], cancellationToken: Ct));

        Assert.Equal(LedgerProblemTypes.ValidationFailed, refused.Problem.Type);
        Assert.Equal(["events[1].data.nameplateKwh", "events[2].data.destination.country"], refused.Problem.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.All(refused.Problem.Errors.Values, messages => Assert.NotEmpty(messages));
        Assert.NotNull(refused.Problem.CorrelationId);
    }

    [Fact]
    public async Task A_line_key_of_another_factory_is_a_wrong_factory_problem()
    {
        var lathrop = await _api.ClientAsync(LedgerRole.Line, "lathrop");

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => lathrop.RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct));

        Assert.Equal((LedgerProblemTypes.WrongFactory, HttpStatusCode.Forbidden), (refused.Problem.Type, refused.StatusCode));
    }

    [Fact]
    public async Task A_revoked_key_is_unauthorized()
    {
        var key = await _api.CreateKeyAsync(LedgerRole.Reporting, name: "soon-revoked-" + Guid.NewGuid().ToString("N"));
        var client = new LedgerClient(_api.CreateClient(), new LedgerClientOptions { ApiKey = key });
        Assert.Equal("reporting", (await client.WhoAmIAsync(Ct)).Role);
        var info = (await _api.Keys.ListAsync(cancellationToken: Ct)).Single(k => k.Name.StartsWith("soon-revoked-", StringComparison.Ordinal));
        await _api.Keys.RevokeAsync(info.Id.ToString(), Ct);

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => client.WhoAmIAsync(Ct));

        Assert.Equal((LedgerProblemTypes.Unauthorized, HttpStatusCode.Unauthorized), (refused.Problem.Type, refused.StatusCode));
    }

    [Fact]
    public async Task A_role_that_may_not_read_is_forbidden()
    {
        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => _line.GetProjectionsAsync(Ct));

        Assert.Equal(LedgerProblemTypes.Forbidden, refused.Problem.Type);
    }

    [Fact]
    public async Task A_unit_without_history_reads_as_null_but_an_unknown_factory_is_a_problem()
    {
        var auditor = await _api.ClientAsync(LedgerRole.Auditor);

        Assert.Null(await auditor.GetUnitAsync("SHA-NEVER-BUILT", Ct));
        Assert.Null(await auditor.GetUnitAsOfAsync("SHA-NEVER-BUILT", Lines.Day, Ct));
        Assert.Null(await auditor.GetUnitHistoryAsync("SHA-NEVER-BUILT", Ct));
        var unknown = await Assert.ThrowsAsync<LedgerProblemException>(() => auditor.GetMilestonesAsync("gigafactory-mars", cancellationToken: Ct));
        Assert.Equal((LedgerProblemTypes.NotFound, 404), (unknown.Problem.Type, unknown.Problem.Status));
    }

    [Fact]
    public async Task A_bad_query_parameter_is_a_validation_failure_naming_it()
    {
        var reporting = await _api.ClientAsync(LedgerRole.Reporting);

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => reporting.GetThroughputAsync("shanghai", new ThroughputQuery { Bucket = "fortnight" }, Ct));

        Assert.Equal(LedgerProblemTypes.ValidationFailed, refused.Problem.Type);
        Assert.Equal(["bucket"], refused.Problem.Errors.Keys);
    }

    [Fact]
    public async Task An_error_page_that_is_not_a_problem_still_reaches_the_caller_as_one()
    {
        var network = new FaultyNetwork(Faults.HtmlPage(HttpStatusCode.BadGateway));
        var client = await _api.ClientAsync(LedgerRole.Reporting, retry: LedgerRetryOptions.None, network: network);

        var failed = await Assert.ThrowsAsync<LedgerProblemException>(() => client.GetFactoriesAsync(Ct));

        Assert.Equal((LedgerProblemTypes.FromStatus, 502), (failed.Problem.Type, failed.Problem.Status));
        Assert.Contains("Bad Gateway", failed.Problem.Detail, StringComparison.Ordinal);
    }
}
