using System.Text;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// Evidence for a failure of <see cref="IntegrationEventsCrashTests"/>: superuser triggers log every change of Wolverine's
/// inbox rows and of the integration subscription's progression, with the transaction that made it, so a missing
/// notification can be traced to the batch that moved the progression past its event and to what became of its envelope
/// (how the 2026-12-06 loss was found: docs/integration-events.md, "Delivery guarantees").
/// </summary>
internal static class Diagnostics
{
    public static async Task InstallAsync(NpgsqlDataSource superuser)
    {
        await using var command = superuser.CreateCommand("""
            create schema if not exists diag;
            create table diag.inbox(at timestamptz not null default clock_timestamp(), tx bigint not null default txid_current(),
              pid int not null default pg_backend_pid(), op text, id uuid, status text, owner_id int);
            create table diag.progress(at timestamptz not null default clock_timestamp(), tx bigint not null default txid_current(),
              pid int not null default pg_backend_pid(), op text, old_seq bigint, new_seq bigint);
            create table diag.marks(at timestamptz not null default clock_timestamp(), mark text);
            create function diag.inbox_log() returns trigger language plpgsql security definer set search_path = diag as $$
            begin
              if tg_op = 'DELETE' then insert into diag.inbox(op, id, status, owner_id) values (tg_op, old.id, old.status, old.owner_id); return old;
              else insert into diag.inbox(op, id, status, owner_id) values (tg_op, new.id, new.status, new.owner_id); return new; end if;
            end $$;
            create function diag.progress_log() returns trigger language plpgsql security definer set search_path = diag as $$
            begin
              if tg_op = 'DELETE' then
                if old.name = 'integration:All' then insert into diag.progress(op, old_seq) values (tg_op, old.last_seq_id); end if;
                return old;
              end if;
              if new.name = 'integration:All' then
                insert into diag.progress(op, old_seq, new_seq) values (tg_op, case when tg_op = 'UPDATE' then old.last_seq_id end, new.last_seq_id);
              end if;
              return new;
            end $$;
            create trigger diag_inbox after insert or update or delete on ledger.wolverine_incoming_envelopes
              for each row execute function diag.inbox_log();
            create trigger diag_progress after insert or update or delete on ledger.mt_event_progression
              for each row execute function diag.progress_log();
            """);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task MarkAsync(NpgsqlDataSource superuser, string mark)
    {
        await using var command = superuser.CreateCommand("insert into diag.marks(mark) values (@mark)");
        command.Parameters.AddWithValue("mark", mark);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<string> ExplainMissingAsync(NpgsqlDataSource superuser, string ours)
    {
        var text = new StringBuilder();
        await using (var command = superuser.CreateCommand($$"""
            select e.position, e.event_id,
              coalesce((select string_agg(d.op || ' ' || coalesce(d.status, '') || '/o' || coalesce(d.owner_id, -1) || ' @' || to_char(d.at, 'HH24:MI:SS.MS') || ' tx' || d.tx, ', ' order by d.at)
                        from diag.inbox d where d.id = e.event_id), 'never in the inbox'),
              coalesce((select string_agg(coalesce(p.old_seq, -1) || '->' || p.new_seq || ' @' || to_char(p.at, 'HH24:MI:SS.MS') || ' tx' || p.tx
                          || ' (inbox inserts in that tx: ' || (select count(*) from diag.inbox i where i.tx = p.tx and i.op = 'INSERT')
                          || ', announced events in the step: ' || (select count(*) from ledger.events a where a.position > coalesce(p.old_seq, -1) and a.position <= p.new_seq
                               and a.type in ('unit-shipped.v1', 'unit-delivered.v1', 'unit-commissioned.v1')) || ')', '; ')
                        from diag.progress p where e.position > coalesce(p.old_seq, -1) and e.position <= p.new_seq), 'no progression step'),
              to_char(e.recorded_at, 'HH24:MI:SS.MS')
            from ledger.events e
            where {{ours}} and not exists (select 1 from ledger.integration_events j where j.message_id = e.event_id)
            order by e.position limit 25
            """))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                text.Append("missing ").Append(reader.GetInt64(0)).Append(' ').Append(reader.GetGuid(1)).Append(" recorded @").Append(reader.GetString(4))
                    .Append("\n  inbox: ").Append(reader.GetString(2)).Append("\n  progression: ").Append(reader.GetString(3)).Append('\n');
            }
        }

        await using (var command = superuser.CreateCommand("""
            select string_agg(mark || ' @' || to_char(at, 'HH24:MI:SS.MS'), ', ' order by at) from diag.marks
            """))
        {
            text.Append("marks: ").Append(await command.ExecuteScalarAsync()).Append('\n');
        }

        // Steps whose transaction stored fewer inbox rows than the announced events it moved past.
        await using (var command = superuser.CreateCommand("""
            select count(*), coalesce(sum(announced - inserted), 0) from (
              select (select count(*) from diag.inbox i where i.tx = p.tx and i.op = 'INSERT') inserted,
                     (select count(*) from ledger.events a where a.position > p.old_seq and a.position <= p.new_seq
                        and a.type in ('unit-shipped.v1', 'unit-delivered.v1', 'unit-commissioned.v1')) announced
              from diag.progress p where p.op = 'UPDATE') s
            where announced > inserted
            """))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            text.Append("progression steps storing fewer inbox rows than announced events in them: ").Append(reader.GetInt64(0))
                .Append(", events short: ").Append(reader.GetValue(1)).Append('\n');
        }

        return text.ToString();
    }
}
