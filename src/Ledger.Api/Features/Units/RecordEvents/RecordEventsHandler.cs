using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Api.ServiceDefaults.Telemetry;
using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels;

namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>Why a valid command was not carried out: the problem the endpoint answers (docs/api.md, "Errors").</summary>
/// <param name="Status">The HTTP status: 403, 404, 409, 412 or 422.</param>
/// <param name="Type">The problem type URI (<see cref="ProblemTypes"/>).</param>
/// <param name="Title">The problem's title.</param>
/// <param name="Detail">What happened and what to do.</param>
/// <param name="Extensions">The problem's further members (<c>code</c>, <c>index</c>, <c>serial</c>, versions).</param>
public sealed record WriteRefusal(int Status, string Type, string Title, string Detail, IReadOnlyDictionary<string, object?> Extensions);

/// <summary>What became of a <see cref="RecordEvents"/> command: the units' receipts, or why nothing was recorded.</summary>
/// <param name="Units">Each unit touched, in the order the request first named it (null when refused).</param>
/// <param name="Refusal">Why nothing was recorded (null when recorded).</param>
/// <param name="Errors">What made the command invalid, by field path (null when it was valid).</param>
public sealed record RecordEventsOutcome(IReadOnlyList<UnitReceipt>? Units, WriteRefusal? Refusal, IReadOnlyDictionary<string, string[]>? Errors = null)
    : IValidatedOutcome<RecordEventsOutcome>
{
    /// <inheritdoc/>
    public static RecordEventsOutcome Invalid(IReadOnlyDictionary<string, string[]> errors) => new(null, null, errors);

    internal static RecordEventsOutcome Refused(int status, string type, string title, string detail, Dictionary<string, object?>? extensions = null) =>
        new(null, new WriteRefusal(status, type, title, detail, extensions ?? []));
}

/// <summary>
/// The Wolverine handler of <see cref="RecordEvents"/>, which records line systems' events: reads the units' streams, checks the caller's factory and the unit's rules, and appends
/// atomically with the version it decided against. A concurrent writer that got in first makes it decide again (or,
/// under If-Match, answer 412). A retry of events already stored is answered with the original result, before any rule
/// is applied: the rules would otherwise refuse a second UnitBuilt that is in fact the first one sent again.
/// </summary>
/// <remarks>
/// Not Wolverine's aggregate handler workflow, which runs one transaction per command: the store's group commit puts
/// concurrent commands into one transaction (1.8-2.7x the events/s and a 2.5-6x lower p99 for single events, measured
/// in docs/decisions/0007, Q1), and a batch spans many units all-or-nothing. The decisions are still the pure functions of
/// <c>Ledger.Production</c>, applied to the folded streams.
/// </remarks>
public sealed class RecordEventsHandler(EventStore.EventStore store, IFactoryRegistry factories, TimeProvider time)
{
    /// <summary>How often a post without If-Match decides again after losing a race for a unit.</summary>
    private const int Attempts = 4;

    /// <summary>The inline UnitStatus projection, told the states this writer folded so it need not read the streams again.</summary>
    private readonly UnitStatusProjection? _unitStatus = store.Options.InlineProjections.OfType<UnitStatusProjection>().FirstOrDefault();

    public async Task<RecordEventsOutcome> HandleAsync(RecordEvents command, CancellationToken cancellationToken)
    {
        // The write path's own span, between the HTTP request's and the database's: what was decided, in how many tries.
        using var activity = LedgerTelemetry.Source.StartActivity("ledger.record_events");
        activity?.SetTag("ledger.units", command.Events.Select(e => e.Serial.Value).Distinct(StringComparer.Ordinal).Count());
        activity?.SetTag("ledger.events", command.Events.Count);
        var outcome = await DecideAndAppendAsync(command, activity, cancellationToken);
        activity?.SetTag("ledger.outcome", outcome.Refusal is null ? "recorded" : "refused");
        return outcome;
    }

    private async Task<RecordEventsOutcome> DecideAndAppendAsync(
        RecordEvents command, System.Diagnostics.Activity? activity, CancellationToken cancellationToken)
    {
        var ids = command.Events.Select(e => e.EventId ?? NewEventId(command, e.Index)).ToArray();
        var metadata = command.Caller.ToEventMetadata(command.CorrelationId) with { IdempotencyKey = command.IdempotencyKey };
        var units = command.Events.GroupBy(e => e.Serial.Value, StringComparer.Ordinal).ToList();

        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            activity?.SetTag("ledger.attempts", attempt);
            using var remembered = new CompositeDisposable();
            var (appends, refusal) = await DecideAsync(command, ids, metadata, units, remembered, cancellationToken);
            if (refusal is not null) return refusal;

            try
            {
                var results = await store.AppendAsync(appends, cancellationToken);
                return new RecordEventsOutcome(Receipts(units, results), null);
            }
            catch (WrongExpectedVersionException conflict) when (command.IfMatch is not null)
            {
                return PreconditionFailed(conflict.StreamId, command.IfMatch.Value, conflict.Actual);
            }
            catch (WrongExpectedVersionException)
            {
                // Another writer changed a unit between our read and our append: read and decide again.
            }
            catch (EventIdConflictException conflict)
            {
                return RecordEventsOutcome.Refused(StatusCodes.Status422UnprocessableEntity, ProblemTypes.EventIdConflict,
                    "An event id is already used for another event.",
                    $"Event {conflict.EventId} {conflict.Reason}. A retry must resend exactly the original events; new events need new ids.",
                    new Dictionary<string, object?> { ["eventId"] = conflict.EventId });
            }
        }

        return RecordEventsOutcome.Refused(StatusCodes.Status409Conflict, ProblemTypes.VersionConflict,
            "The unit kept changing while this command was decided.",
            $"Other writers changed the unit(s) {Attempts} times in a row; send the command again.");
    }

    /// <summary>
    /// Reads the units' streams and decides: the appends to make, or why not (then no appends). A method of its own so that the histories
    /// it reads are garbage by the time the append waits for its group commit: held across that wait (most of a request's
    /// time under load) they survived the young generation and were most of what batch ingest promoted.
    /// </summary>
    private async Task<(List<StreamAppend> Appends, RecordEventsOutcome? Refusal)> DecideAsync(
        RecordEvents command, Guid[] ids, EventMetadata metadata, List<IGrouping<string, ProposedEvent>> units,
        CompositeDisposable remembered, CancellationToken cancellationToken)
    {
        var histories = await store.ReadStreamsToDecideAsync(units.Select(u => u.Key).ToArray(), cancellationToken);
        var appends = new List<StreamAppend>(units.Count);
        foreach (var unit in units)
        {
            var proposed = unit.ToList();
            var history = histories[unit.Key];
            var state = UnitHistory.Fold(history);
            var refusal = Authorize(command.Caller, unit.Key, state, proposed);
            if (refusal is not null) return ([], refusal);

            var stored = history.Select(e => e.EventId).ToHashSet();
            var isRetry = proposed.Any(e => stored.Contains(ids[e.Index]));
            if (!isRetry)
            {
                refusal = Decide(command, unit.Key, state, proposed);
                if (refusal is not null) return ([], refusal);
            }

            var expected = isRetry ? ExpectedVersion.Any : ExpectedVersion.Exactly(command.IfMatch ?? state.Version);
            // Appended only at exactly this version, on top of the committed events just folded (see Remember).
            if (!isRetry && _unitStatus is not null) remembered.Add(_unitStatus.Remember(unit.Key, state));
            appends.Add(new StreamAppend(unit.Key, expected, proposed.Select(e =>
                new EventData(ids[e.Index], e.Type.StoredName, UnitEvents.Serialize(e.Event), e.OccurredAt, metadata)).ToList()));
        }

        return (appends, null);
    }

    private static RecordEventsOutcome? Authorize(ApiKeyCaller caller, string serial, UnitState state, List<ProposedEvent> proposed)
    {
        if (state.Version == 0 && proposed[0].Event is not UnitBuilt)
        {
            return RecordEventsOutcome.Refused(StatusCodes.Status404NotFound, ProblemTypes.UnitNotFound, "No such unit.",
                $"Unit {serial} has no history; its first event must be UnitBuilt.",
                new Dictionary<string, object?> { ["serial"] = serial, ["index"] = proposed[0].Index });
        }

        // A line key acts for one factory: the unit's, and any UnitBuilt it posts must name it.
        var factories = proposed.Select(e => e.Event).OfType<UnitBuilt>().Select(b => b.FactoryId).Append(state.FactoryId).OfType<string>();
        var foreign = factories.FirstOrDefault(f => !caller.MayActFor(f));
        if (foreign is null) return null;
        return RecordEventsOutcome.Refused(StatusCodes.Status403Forbidden, ProblemTypes.WrongFactory,
            "This key may not record events for that factory.",
            $"Key '{caller.Name}' records for factory '{caller.FactoryId}', but unit {serial} belongs to '{foreign}'.",
            new Dictionary<string, object?> { ["serial"] = serial });
    }

    private RecordEventsOutcome? Decide(RecordEvents command, string serial, UnitState state, List<ProposedEvent> proposed)
    {
        if (command.IfMatch is { } expected && expected != state.Version)
        {
            return PreconditionFailed(serial, expected, state.Version);
        }

        var decision = UnitRules.DecideBatch(state, proposed.Select(e => e.Occurred).ToList(), time.GetUtcNow(), factories);
        if (decision.IsAccepted) return null;
        var rejected = proposed[decision.RejectedIndex!.Value];
        return RecordEventsOutcome.Refused(StatusCodes.Status422UnprocessableEntity, ProblemTypes.RuleViolation,
            "The event breaks a rule of the unit's lifecycle.", decision.Rejection!.Message,
            new Dictionary<string, object?>
            {
                ["code"] = decision.Rejection.Code,
                ["index"] = rejected.Index,
                ["serial"] = serial,
                ["eventType"] = rejected.Type.ApiName,
            });
    }

    private static RecordEventsOutcome PreconditionFailed(string serial, long expected, long actual) =>
        RecordEventsOutcome.Refused(StatusCodes.Status412PreconditionFailed, ProblemTypes.PreconditionFailed,
            "The unit is not at the version given in If-Match.",
            $"Unit {serial} is at version {actual}, not {expected}. Read it again, decide again, and send the new version.",
            new Dictionary<string, object?> { ["serial"] = serial, ["expectedVersion"] = expected, ["actualVersion"] = actual });

    private static List<UnitReceipt> Receipts(List<IGrouping<string, ProposedEvent>> units, IReadOnlyList<AppendResult> results)
    {
        var receipts = new List<UnitReceipt>(units.Count);
        for (var u = 0; u < units.Count; u++)
        {
            var events = units[u].Zip(results[u].Events, (proposed, appended) =>
                new RecordedEventReceipt(proposed.Index, appended.EventId, proposed.Type.ApiName, appended.StreamVersion, appended.Position)).ToList();
            receipts.Add(new UnitReceipt(units[u].Key, results[u].Version, events.Max(e => e.Position), events));
        }

        return receipts;
    }

    /// <summary>
    /// An event the sender gave no id gets one derived from the Idempotency-Key, so a retry of the same request produces
    /// the same ids and the store recognises it even if the first attempt's answer was lost. Without a key it gets a
    /// fresh id, and a retry would record the fact twice: the API guide tells line systems to send one of the two.
    /// </summary>
    private static Guid NewEventId(RecordEvents command, int index)
    {
        if (command.IdempotencyKey is null) return Guid.CreateVersion7();
        return NameBasedId.From("ledger-event-id", command.Caller.KeyId.ToString("D"), command.IdempotencyKey, index.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>Disposes what it holds, for the remembered unit states of one attempt.</summary>
internal sealed class CompositeDisposable : IDisposable
{
    private readonly List<IDisposable> _items = [];

    public void Add(IDisposable item) => _items.Add(item);

    public void Dispose()
    {
        foreach (var item in _items) item.Dispose();
        _items.Clear();
    }
}
