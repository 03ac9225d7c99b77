using System.CommandLine;
using Ledger.Api.Access;
using Ledger.EventStore;

namespace Ledger.Cli;

/// <summary><c>ledger keys create|list|revoke|generate</c>: manage the API's keys (docs/operations.md, "Key rotation").</summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var command = new Command("keys", "Manage API keys: create, list, revoke.");
        command.Subcommands.Add(CreateKey());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Revoke());
        command.Subcommands.Add(Generate());
        return command;
    }

    private static Command CreateKey()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var name = new Option<string>("--name") { Description = "A name unique among live keys; recorded as the actor of the events the key posts.", Required = true };
        var role = new Option<string>("--role") { Description = "line, reporting, auditor or admin.", Required = true };
        role.AcceptOnlyFromAmong([.. LedgerRoles.All.Select(r => r.ToText())]);
        var factory = new Option<string?>("--factory") { Description = "The factory a line key acts for (required for line, refused otherwise)." };
        var command = new Command("create", "Create a key and print it once.") { name, role, factory, dataDirectory };
        command.SetAction(async (parse, cancellationToken) =>
        {
            LedgerRoles.TryParse(parse.GetValue(role), out var parsedRole);
            return await WithStoreAsync(parse.GetValue(dataDirectory)!, async store =>
            {
                var created = await store.CreateAsync(parse.GetValue(name)!, parsedRole, parse.GetValue(factory), cancellationToken);
                Console.WriteLine($"Created key {created.Info.Id} '{created.Info.Name}' ({Describe(created.Info)}).");
                Console.WriteLine();
                Console.WriteLine(created.Key);
                Console.WriteLine();
                Console.Error.WriteLine("Store this key now: it is not shown again, and the ledger keeps only its hash.");
            }, cancellationToken);
        });
        return command;
    }

    private static Command List()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var all = new Option<bool>("--all") { Description = "Include revoked keys." };
        var command = new Command("list", "List keys (never their secrets).") { all, dataDirectory };
        command.SetAction(async (parse, cancellationToken) =>
            await WithStoreAsync(parse.GetValue(dataDirectory)!, async store =>
            {
                var keys = await store.ListAsync(parse.GetValue(all), cancellationToken);
                if (keys.Count == 0) Console.WriteLine("No keys.");
                foreach (var key in keys)
                {
                    var revoked = key.RevokedAt is { } at ? $"  revoked {at:u}" : string.Empty;
                    Console.WriteLine($"{key.Id}  {key.Name,-24} {Describe(key),-20} created {key.CreatedAt:u}{revoked}");
                }
            }, cancellationToken));
        return command;
    }

    private static Command Revoke()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var key = new Argument<string>("key") { Description = "The id or name of the live key to revoke." };
        var command = new Command("revoke", "Revoke a key; it stops working on the next request on every node.") { key, dataDirectory };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var found = true;
            var code = await WithStoreAsync(parse.GetValue(dataDirectory)!, async store =>
            {
                var revoked = await store.RevokeAsync(parse.GetValue(key)!, cancellationToken);
                found = revoked is not null;
                if (revoked is null) await Console.Error.WriteLineAsync($"No live key has id or name '{parse.GetValue(key)}'.");
                else Console.WriteLine($"Revoked key {revoked.Id} '{revoked.Name}' ({Describe(revoked)}).");
            }, cancellationToken);
            return code != 0 ? code : found ? 0 : 1;
        });
        return command;
    }

    private static Command Generate()
    {
        var command = new Command("generate", "Print a new key text without storing it, e.g. for Ledger__BootstrapAdminKey.");
        command.SetAction(_ =>
        {
            Console.WriteLine(ApiKeyText.Generate());
            return 0;
        });
        return command;
    }

    private static string Describe(ApiKeyInfo key) =>
        key.FactoryId is null ? key.Role.ToText() : $"{key.Role.ToText()} @ {key.FactoryId}";

    private static async Task<int> WithStoreAsync(string dataDirectory, Func<ApiKeyStore, Task> action, CancellationToken cancellationToken)
    {
        await using var database = await LedgerDatabase.OpenAsync(dataDirectory, cancellationToken);
        await database.MigrateAsync(cancellationToken);
        await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "ledger-cli");
        try
        {
            await action(new ApiKeyStore(dataSource, TimeProvider.System));
            return 0;
        }
        catch (ApiKeyRejectedException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
    }
}
