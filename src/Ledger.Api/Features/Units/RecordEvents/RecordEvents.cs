using FluentValidation;
using Ledger.Api.Access;
using Ledger.Production.Units.Validation;

namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>
/// The command line systems send: record these events (one unit's, or many units'), all of them or none. Built by the
/// two endpoints from the request (<see cref="RecordEventsEndpoints"/>), checked by <see cref="RecordEventsValidator"/>
/// before anything is read, handled by <see cref="RecordEventsHandler"/>.
/// </summary>
/// <param name="Caller">The API key posting.</param>
/// <param name="Events">The events the request's reader could read, in request order.</param>
/// <param name="IfMatch">The unit's expected version from <c>If-Match</c> (single-unit posts only).</param>
/// <param name="IdempotencyKey">The request's Idempotency-Key, if any.</param>
/// <param name="CorrelationId">The request's correlation id, recorded in each event's metadata.</param>
public sealed record RecordEvents(ApiKeyCaller Caller, IReadOnlyList<ProposedEvent> Events, long? IfMatch, string? IdempotencyKey, string CorrelationId)
{
    /// <summary>
    /// What the reader could not read (a missing type, a malformed date, an unknown field), by field path: the validator
    /// reports it together with its own findings, so a line engineer sees everything that is wrong in one answer.
    /// </summary>
    public IReadOnlyDictionary<string, string[]> Unreadable { get; init; } = new Dictionary<string, string[]>();

    /// <summary>The data of events left out of <see cref="Events"/> because something else in them was unreadable.</summary>
    public IReadOnlyList<PartlyReadEvent> PartlyRead { get; init; } = [];
}

/// <summary>
/// What makes a <see cref="RecordEvents"/> invalid, by field path as the request wrote it (<c>events[3].data.nameplateKwh</c>):
/// run by Wolverine before the handler reads any stream (ServiceDefaults/Messaging/CommandValidation), answered 400.
/// </summary>
public sealed class RecordEventsValidator : AbstractValidator<RecordEvents>
{
    private static readonly UnitEventValidator Data = new();

    public RecordEventsValidator()
    {
        RuleFor(command => command.Unreadable).Custom((unreadable, context) =>
        {
            foreach (var (path, messages) in unreadable)
            {
                foreach (var message in messages) context.AddFailure(new FluentValidation.Results.ValidationFailure(path, message));
            }
        });
        RuleForEach(command => command.Events).Custom((proposed, context) => CheckData(proposed.Path, proposed.Event, context));
        RuleForEach(command => command.PartlyRead).Custom((partly, context) => CheckData(partly.Path, partly.Event, context));
    }

    // Failures are added with their full path as is: the request's own paths, not the command's property chain.
    private static void CheckData<T>(string path, Production.Units.IUnitEvent data, ValidationContext<T> context)
    {
        var prefix = path.Length == 0 ? "data" : $"{path}.data";
        foreach (var failure in Data.Validate(data).Errors) context.AddFailure(new FluentValidation.Results.ValidationFailure($"{prefix}.{failure.PropertyName}", failure.ErrorMessage));
    }
}
