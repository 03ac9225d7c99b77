namespace Ledger.Production.Units;

/// <summary>Why a proposed event was refused: a stable <see cref="Code"/> (see <see cref="RejectionCodes"/>) and words.</summary>
public sealed record Rejection(string Code, string Message);

/// <summary>The outcome of <see cref="UnitRules.Decide"/>: accepted, or a <see cref="Rejection"/>.</summary>
public readonly record struct Decision
{
    private Decision(Rejection rejection) => Rejection = rejection;

    public static Decision Accepted => default;

    public Rejection? Rejection { get; }

    public bool IsAccepted => Rejection is null;

    public static Decision Reject(string code, string message) => new(new Rejection(code, message));
}

/// <summary>The outcome of <see cref="UnitRules.DecideBatch"/>.</summary>
/// <param name="State">The state after every accepted event: all of them, or those before <paramref name="RejectedIndex"/>.</param>
/// <param name="RejectedIndex">The zero-based index of the first refused event; null when all were accepted.</param>
/// <param name="Rejection">Why that event was refused.</param>
public sealed record BatchDecision(UnitState State, int? RejectedIndex, Rejection? Rejection)
{
    public bool IsAccepted => Rejection is null;
}
