using FluentValidation;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using JasperFx.CodeGeneration.Model;
using JasperFx.Core.Reflection;
using Wolverine.Configuration;
using Wolverine.Runtime;
using Wolverine.Runtime.Handlers;

namespace Ledger.Api.ServiceDefaults.Messaging;

/// <summary>The answer of a command handler that can also say "this command is invalid", by field path.</summary>
/// <typeparam name="TSelf">The outcome type itself.</typeparam>
public interface IValidatedOutcome<out TSelf>
{
    /// <summary>The outcome of a command its validator refused: nothing was read or stored.</summary>
    static abstract TSelf Invalid(IReadOnlyDictionary<string, string[]> errors);
}

/// <summary>
/// FluentValidation before every Wolverine handler whose command has a validator registered (issue 13: ours, since the
/// WolverineFx FluentValidation packages are not served here). The validator runs first in the handler's generated
/// code, before the handler reads anything; an invalid command ends there with the handler's own outcome type saying so
/// (<see cref="IValidatedOutcome{TSelf}"/>), which the endpoint answers 400. An outcome rather than an exception: Wolverine
/// logs every exception out of an invocation as an error, with the whole command in the message.
/// </summary>
internal sealed class CommandValidationPolicy : IHandlerPolicy
{
    public void Apply(IReadOnlyList<HandlerChain> chains, GenerationRules rules, JasperFx.IServiceContainer container)
    {
        foreach (var chain in chains)
        {
            if (!container.HasRegistrationFor(typeof(IValidator<>).MakeGenericType(chain.MessageType))) continue;
            var returned = chain.Handlers.Single().Method.ReturnType;
            var outcome = returned.IsGenericType && returned.GetGenericTypeDefinition() == typeof(Task<>) ? returned.GetGenericArguments()[0] : returned;
            if (!outcome.Closes(typeof(IValidatedOutcome<>)))
            {
                throw new InvalidOperationException(
                    $"{chain.MessageType.Name} has a validator, so its handler must return an {nameof(IValidatedOutcome<>)} (it returns {outcome.Name}).");
            }

            var check = typeof(CommandValidation).GetMethod(nameof(CommandValidation.CheckAsync))!.MakeGenericMethod(chain.MessageType, outcome);
            var call = new MethodCall(typeof(CommandValidation), check) { CommentText = "FluentValidation, before anything is read" };
            chain.Middleware.InsertRange(0, [call, new EndIfInvalidFrame(call.ReturnVariable!)]);
        }
    }

    /// <summary>Answers the invalid outcome, when there is one, as the invocation's response and stops the handler.</summary>
    private sealed class EndIfInvalidFrame : AsyncFrame
    {
        private readonly Variable _outcome;
        private Variable? _context;

        public EndIfInvalidFrame(Variable outcome)
        {
            _outcome = outcome;
            uses.Add(outcome);
        }

        public override IEnumerable<Variable> FindVariables(IMethodVariables chain)
        {
            _context = chain.FindVariable(typeof(MessageContext));
            yield return _context;
        }

        public override void GenerateCode(GeneratedMethod method, ISourceWriter writer)
        {
            writer.Write($"BLOCK:if ({_outcome.Usage} != null)");
            writer.Write($"await {_context!.Usage}.{nameof(MessageContext.EnqueueCascadingAsync)}({_outcome.Usage}).ConfigureAwait(false);");
            writer.Write("return;");
            writer.FinishBlock();
            Next?.GenerateCode(method, writer);
        }
    }
}

/// <summary>What <see cref="CommandValidationPolicy"/> puts in front of a handler.</summary>
public static class CommandValidation
{
    /// <summary>The invalid outcome naming every failure by its path, or null when <paramref name="command"/> is valid.</summary>
    public static async Task<TOutcome?> CheckAsync<TCommand, TOutcome>(IValidator<TCommand> validator, TCommand command, CancellationToken cancellationToken)
        where TOutcome : class, IValidatedOutcome<TOutcome>
    {
        ArgumentNullException.ThrowIfNull(validator);
        var result = await validator.ValidateAsync(command, cancellationToken);
        if (result.IsValid) return null;
        return TOutcome.Invalid(result.Errors.GroupBy(e => e.PropertyName, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage).ToArray(), StringComparer.Ordinal));
    }
}
