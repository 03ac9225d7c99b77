using System.Collections;
using Microsoft.Extensions.Logging.Console;

namespace Ledger.Api.ServiceDefaults.Logging;

/// <summary>
/// Console logs as one JSON object a line (the console logger's JSON formatter) with scopes, so every line written while
/// a request is handled carries its <c>CorrelationId</c>. <c>Logging:Console:FormatterName</c> switches the format
/// (<c>json</c>, <c>simple</c>, <c>systemd</c>); unset, it is <c>json</c> when the output goes to a pipe or file
/// (containers, systemd, CI) and <c>simple</c> on a terminal, where people read it.
/// </summary>
public static class LedgerLogging
{
    public const string FormatterSetting = "Logging:Console:FormatterName";

    internal static WebApplicationBuilder AddLedgerLogging(this WebApplicationBuilder builder)
    {
        // Read when the options are built, not now: settings added later (by tests, or by `ledger run`) count too.
        builder.Services.AddOptions<ConsoleLoggerOptions>().PostConfigure<IConfiguration>((options, configuration) =>
        {
            if (string.IsNullOrWhiteSpace(configuration[FormatterSetting]))
            {
                options.FormatterName = Console.IsOutputRedirected ? ConsoleFormatterNames.Json : ConsoleFormatterNames.Simple;
            }
        });
        // Defaults first, then the configuration again, so that Logging:Console:FormatterOptions:* still has the last word.
        builder.Services.AddOptions<JsonConsoleFormatterOptions>().Configure(options =>
        {
            options.IncludeScopes = true;
            options.UseUtcTimestamp = true;
            options.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
        }).BindConfiguration("Logging:Console:FormatterOptions");
        // On a terminal a person reads the lines; the request scopes (trace, connection, path, correlation id) would
        // double each line's length, so the simple format leaves them out unless configured.
        builder.Services.AddOptions<SimpleConsoleFormatterOptions>().Configure(options =>
        {
            options.IncludeScopes = false;
            options.SingleLine = true;
            options.TimestampFormat = "HH:mm:ss ";
        }).BindConfiguration("Logging:Console:FormatterOptions");
        return builder;
    }
}

/// <summary>
/// The logging scope of a request: <c>{"CorrelationId": "..."}</c> in JSON logs. A list of pairs, so formatters write
/// it as a property rather than as text.
/// </summary>
internal sealed class CorrelationScope(string correlationId) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public const string Key = "CorrelationId";

    public int Count => 1;

    public KeyValuePair<string, object?> this[int index] =>
        index == 0 ? new(Key, correlationId) : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{Key}:{correlationId}";
}
