using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json.Serialization;
using FluentValidation;

namespace Ledger.Production.Units.Validation;

/// <summary>
/// A validator whose failures name fields as the JSON does (<c>nameplateKwh</c>, <c>destination.country</c>), so the HTTP
/// layer can report <c>data.</c> + the name as is. Names come from each property's <see cref="JsonPropertyNameAttribute"/>
/// rather than a global <c>ValidatorOptions.Global.PropertyNameResolver</c>: a library must not change how every other
/// validator in the host names things, and reading the attribute means the two names cannot drift apart.
/// </summary>
public abstract class EventDataValidator<T> : AbstractValidator<T>
{
    protected EventDataValidator()
    {
        // One message per field: a missing value is "required", not also "too short" and "badly formed".
        RuleLevelCascadeMode = CascadeMode.Stop;
    }

    /// <summary>Starts the rules for a property, named by its JSON name.</summary>
    protected IRuleBuilderInitial<T, TProperty> Field<TProperty>(Expression<Func<T, TProperty>> property)
    {
        var name = JsonName(property);
        return RuleFor(property).Configure(rule =>
        {
            rule.PropertyName = name;
            rule.SetDisplayName(name);
        });
    }

    private static string JsonName<TProperty>(Expression<Func<T, TProperty>> property)
    {
        var member = property.Body is MemberExpression { Member: PropertyInfo info }
            ? info
            : throw new ArgumentException($"{property} is not a property access.", nameof(property));
        return member.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name
            ?? throw new InvalidOperationException($"{typeof(T).Name}.{member.Name} has no [JsonPropertyName].");
    }
}
