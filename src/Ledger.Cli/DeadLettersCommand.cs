using System.CommandLine;
using System.Globalization;
using Ledger.Client;

namespace Ledger.Cli;

/// <summary>
/// <c>ledger dead-letters</c>: the messages the ledger gave up on, over the running service's HTTP API with an admin key
/// (Wolverine keeps them; the service is the one place that reads and replays them).
/// </summary>
internal static class DeadLettersCommand
{
    public const string UrlVariable = "LEDGER_URL";
    public const string KeyVariable = "LEDGER_API_KEY";

    public static Command Create()
    {
        var command = new Command("dead-letters", "Messages the ledger gave up on after their retries: list, replay, discard (admin key).");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Replay());
        command.Subcommands.Add(Discard());
        return command;
    }

    private static Option<string> UrlOption() => new("--url")
    {
        Description = $"The ledger's address (default ${UrlVariable}, else http://127.0.0.1:5080, where `ledger run` listens).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } url ? url : "http://127.0.0.1:5080",
    };

    private static Option<string> KeyOption() => new("--key")
    {
        Description = $"An admin API key (default ${KeyVariable}).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(KeyVariable) ?? string.Empty,
    };

    private static Command List()
    {
        var (url, key) = (UrlOption(), KeyOption());
        var type = new Option<string?>("--type") { Description = "Only this message type, e.g. ledger.unit-shipped.v1." };
        var limit = new Option<int>("--limit") { Description = "At most this many (1 to 500).", DefaultValueFactory = _ => 100 };
        var command = new Command("list", "List dead letters, newest first.") { url, key, type, limit };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, url, key, async client =>
        {
            var page = await client.GetDeadLettersAsync(parse.GetValue(type), parse.GetValue(limit), 0, cancellationToken);
            foreach (var letter in page.DeadLetters)
            {
                Console.WriteLine(string.Join('\t', letter.Id, letter.MessageType, letter.SentAt.ToString("O", CultureInfo.InvariantCulture),
                    letter.Replayable ? "replaying" : "dead", $"{letter.ExceptionType}: {letter.ExceptionMessage}"));
            }

            Console.WriteLine($"{page.DeadLetters.Count} of {page.Total} dead letter(s).");
            return 0;
        }));
        return command;
    }

    private static Command Replay()
    {
        var (url, key) = (UrlOption(), KeyOption());
        var ids = new Argument<Guid[]>("ids") { Description = "The dead letters' ids.", Arity = ArgumentArity.OneOrMore };
        var command = new Command("replay", "Send dead letters again (consumers deduplicate by message id).") { url, key, ids };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, url, key, async client =>
        {
            var replayed = await client.ReplayDeadLettersAsync(parse.GetValue(ids)!, cancellationToken);
            foreach (var id in replayed.Replaying) Console.WriteLine($"replaying {id}");
            foreach (var id in replayed.NotFound) Console.Error.WriteLine($"not a dead letter: {id}");
            return replayed.NotFound.Count == 0 ? 0 : 1;
        }));
        return command;
    }

    private static Command Discard()
    {
        var (url, key) = (UrlOption(), KeyOption());
        var id = new Argument<Guid>("id") { Description = "The dead letter's id." };
        var command = new Command("discard", "Delete a dead letter: it will not be delivered.") { url, key, id };
        command.SetAction((parse, cancellationToken) => RunAsync(parse, url, key, async client =>
        {
            await client.DiscardDeadLetterAsync(parse.GetValue(id), cancellationToken);
            Console.WriteLine($"discarded {parse.GetValue(id)}");
            return 0;
        }));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, Option<string> url, Option<string> key, Func<LedgerClient, Task<int>> action)
    {
        if (parse.GetValue(key) is not { Length: > 0 } apiKey)
        {
            await Console.Error.WriteLineAsync($"An admin key is needed: --key or ${KeyVariable}.");
            return 2;
        }

        using var http = new HttpClient();
        var client = new LedgerClient(http, new LedgerClientOptions { BaseAddress = new Uri(parse.GetValue(url)!), ApiKey = apiKey });
        try
        {
            return await action(client);
        }
        catch (LedgerProblemException problem)
        {
            await Console.Error.WriteLineAsync($"{problem.Problem.Status} {problem.Problem.Title}: {problem.Problem.Detail}");
            return 1;
        }
    }
}
