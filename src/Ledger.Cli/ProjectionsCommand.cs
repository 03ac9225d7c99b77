using System.CommandLine;
using Ledger.Api.Features;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.ReadModels;
using Spectre.Console;

namespace Ledger.Cli;

/// <summary><c>ledger projections status|rebuild|retry|skip</c>: the operator's view of the read models.</summary>
internal static class ProjectionsCommand
{
    public static Command Create()
    {
        var command = new Command("projections", "Read models: where each stands, and rebuilds, retries and skips.");
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Rebuild());
        command.Subcommands.Add(Retry());
        command.Subcommands.Add(Skip());
        return command;
    }

    private static Command Status()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var status = new Command("status", "Each projection's position, lag, owner node, state and rebuild progress.") { dataDirectory };
        status.SetAction(async (parse, cancellationToken) => await WithAdminAsync(parse.GetValue(dataDirectory)!, async (admin, _, _) =>
        {
            var table = new Table().AddColumns("projection", "state", "position", "lag (events)", "lag (s)", "owner", "rebuild");
            foreach (var p in await admin.GetStatusAsync(cancellationToken))
            {
                table.AddRow(p.Name, p.State.ToString(), p.Cursor.Position.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    p.LagEvents.ToString(System.Globalization.CultureInfo.InvariantCulture), p.Lag.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
                    Markup.Escape(p.OwnerNode ?? "-"),
                    p.Rebuild is { } r ? $"{r.EventsDone}/{r.EventsTotal}" : "-");
                if (p.Failure is { } f) table.AddRow("", $"[red]failed at position {f.Position}[/]", Markup.Escape(f.Error ?? ""), "", "", "", "");
            }

            AnsiConsole.Write(table);
            return 0;
        }, cancellationToken));
        return status;
    }

    private static Command Rebuild()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var name = new Argument<string?>("name") { Description = "The projection to rebuild.", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Rebuild every projection." };
        var rebuild = new Command("rebuild", "Replay a projection (or --all) into fresh tables and swap them in; the live ones answer meanwhile.")
        {
            name, all, dataDirectory,
        };
        rebuild.SetAction(async (parse, cancellationToken) => await WithAdminAsync(parse.GetValue(dataDirectory)!, async (admin, projections, dataSource) =>
        {
            var known = projections.Select(p => p.Name).Prepend(UnitStatusProjection.Name).ToList();
            var names = parse.GetValue(all) ? known : parse.GetValue(name) is { } one ? [one] : [];
            if (names.Count == 0)
            {
                await Console.Error.WriteLineAsync("Name a projection, or pass --all.");
                return 2;
            }

            var unknown = names.Except(known).ToList();
            if (unknown.Count > 0)
            {
                await Console.Error.WriteLineAsync($"No projection named {string.Join(", ", unknown)}; there are {string.Join(", ", known)}.");
                return 2;
            }

            // The inline read model is rebuilt here, by refolding every stream (appends go on, but wait for the swap).
            if (names.Remove(UnitStatusProjection.Name))
            {
                await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .StartAsync(async context =>
                    {
                        var bar = context.AddTask(UnitStatusProjection.Name, maxValue: 1);
                        await new UnitStatusRebuild(dataSource).RunAsync(new Progress<(long Done, long Total)>(p =>
                        {
                            bar.MaxValue = Math.Max(1, p.Total);
                            bar.Value = p.Done;
                        }), cancellationToken);
                        bar.Value = bar.MaxValue;
                    });
                Console.WriteLine($"Rebuilt: {UnitStatusProjection.Name}.");
                if (names.Count == 0) return 0;
            }

            // The owner of each projection does the work: a service node if one runs, else the daemon started here,
            // which joins the nodes (HotCold) for as long as the command waits. Its store appends nothing; it also runs
            // Marten's high-water detection, which moves the mark the rebuild replays up to, so the command finishes
            // (and leaves no lag) when no service node runs.
            var options = new EventStoreOptions { EventTypes = Production.Units.UnitEvents.StoredNamesByType, NodeId = $"ledger-cli-{Environment.ProcessId}" };
            foreach (var projection in projections) options.AsyncProjections.Add(projection);
            await using var node = new EventStore.EventStore(dataSource, options);
            await node.StartProjectionsAsync();

            // A rebuild is requested on the projection's checkpoint, which a daemon creates the first time it runs: on a
            // ledger no daemon has run on yet, the request would find nothing and the wait below would never end.
            IReadOnlyList<ProjectionStatus> statuses;
            while ((statuses = await admin.GetStatusAsync(cancellationToken)).Count(s => names.Contains(s.Name)) < names.Count)
            {
                await Task.Delay(100, cancellationToken);
            }

            var before = statuses.ToDictionary(s => s.Name, s => s.LastRebuildFinishedAt);
            foreach (var n in names) await admin.RequestRebuildAsync(n, cancellationToken);
            await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var bars = names.ToDictionary(n => n, n => context.AddTask(n, maxValue: 1));
                    while (!context.IsFinished)
                    {
                        foreach (var status in await admin.GetStatusAsync(cancellationToken))
                        {
                            if (!bars.TryGetValue(status.Name, out var bar)) continue;
                            if (status.LastRebuildFinishedAt != before.GetValueOrDefault(status.Name) && status.Rebuild is null)
                            {
                                bar.Value = bar.MaxValue;
                                bar.StopTask();
                            }
                            else if (status.Rebuild is { EventsTotal: > 0 } r)
                            {
                                bar.MaxValue = r.EventsTotal;
                                bar.Value = r.EventsDone;
                            }
                        }

                        await Task.Delay(250, cancellationToken);
                    }
                });
            Console.WriteLine($"Rebuilt: {string.Join(", ", names)}.");
            return 0;
        }, cancellationToken));
        return rebuild;
    }

    private static Command Retry()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var name = new Argument<string>("name") { Description = "The failed projection." };
        var retry = new Command("retry", "Let a failed projection try the event it stopped at again.") { name, dataDirectory };
        retry.SetAction(async (parse, cancellationToken) => await WithAdminAsync(parse.GetValue(dataDirectory)!, async (admin, _, _) =>
        {
            var retried = await admin.RetryAsync(parse.GetValue(name)!, cancellationToken);
            Console.WriteLine(retried ? "Running again from the event it failed on." : "That projection has not failed.");
            return retried ? 0 : 1;
        }, cancellationToken));
        return retry;
    }

    private static Command Skip()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var name = new Argument<string>("name") { Description = "The failed projection." };
        var skip = new Command("skip", "Move a failed projection past exactly the event it stopped at (recorded).") { name, dataDirectory };
        skip.SetAction(async (parse, cancellationToken) => await WithAdminAsync(parse.GetValue(dataDirectory)!, async (admin, _, _) =>
        {
            try
            {
                var skipped = await admin.SkipAsync(parse.GetValue(name)!, $"ledger-cli ({Environment.UserName})", cancellationToken);
                Console.WriteLine(skipped is null ? "That projection has not failed." : $"Skipped event {skipped.EventId} at position {skipped.Position}.");
                return skipped is null ? 1 : 0;
            }
            catch (SkipRefusedException refused)
            {
                await Console.Error.WriteLineAsync(refused.Message);
                return 1;
            }
        }, cancellationToken));
        return skip;
    }

    private static async Task<int> WithAdminAsync(
        string dataDirectory, Func<ProjectionAdmin, IReadOnlyList<IProjection>, Npgsql.NpgsqlDataSource, Task<int>> action, CancellationToken cancellationToken)
    {
        await using var database = await LedgerDatabase.OpenAsync(dataDirectory, cancellationToken);
        await database.MigrateAsync(cancellationToken);
        await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "ledger-cli");
        var projections = await ProjectionCatalog.CreateAsync(dataSource, cancellationToken);
        return await action(new ProjectionAdmin(dataSource), projections, dataSource);
    }
}
