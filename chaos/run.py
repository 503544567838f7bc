"""``make chaos``: the local stack under faults on purpose, then a count of every event's fate.

While N events over 200 stores go through Kafka, the dispatch worker and the history
process, the run

- kills the dispatch worker with SIGKILL several times at random moments, and restarts it,
  noting the sends in flight at each kill (the only ones a kill may repeat);
- stops it once with SIGTERM, as a deploy does, and starts it again (that repeats nothing);
- kills the history process once, and the broker once, and restarts them;
- makes the history's ClickHouse writes fail for a while (its fault file);
- makes one platform's stores answer 503 to everything for a while, then recover.

Then it waits for quiescence and counts, from the input topic and each event's outcomes in
the history: events published, with exactly one terminal outcome, with none (lost), with
more than one, the platform's duplicate deliveries and the dead-lettered ones; resends every
open error, waits for each resent event to end again and counts again. A fuzz phase
follows: bad records interleaved with valid events, counting worker crashes and outcomes.
``CHAOS_QUICK=1`` runs a smaller version.

Writes ``chaos/results/latest.json``, and exits non-zero when a count of ``MUST_BE_ZERO``
is not 0.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.run import machine
from chaos.fuzz import ALL_KINDS, HEADER_KINDS, Fuzzer
from streams import topics
from streams.history.store import HistoryStore
from streams.local import (
    LocalProcess,
    LocalRun,
    http_json,
    serve_sandbox_stores,
    side_stack_settings,
)
from streams.local.harness import AckedPublisher, console_logging, lifecycle_records
from streams.local.stack import Stack
from streams.local.stack.process import StackError, wait_until
from streams.local.stack.services import port_open
from streams.records import TERMINAL_OUTCOMES, Outcome
from streams.settings import Settings
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "chaos" / "results"
QUICK = os.environ.get("CHAOS_QUICK", "") not in ("", "0")
EVENTS = int(os.environ.get("CHAOS_EVENTS", "10000" if QUICK else "100000"))
STORES = int(os.environ.get("CHAOS_STORES", "200"))
WORKER_KILLS = int(os.environ.get("CHAOS_WORKER_KILLS", "2" if QUICK else "5"))
REFUSE_S = float(os.environ.get("CHAOS_CLICKHOUSE_REFUSE_S", "20" if QUICK else "60"))
OUTAGE_S = float(os.environ.get("CHAOS_PLATFORM_OUTAGE_S", "45" if QUICK else "120"))
FUZZ_RECORDS = int(os.environ.get("CHAOS_FUZZ_RECORDS", "2000" if QUICK else "10000"))
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
OUTAGE_STORES = STORES // 10  # "one platform": a tenth of the stores
TERMINAL = sorted(o.value for o in TERMINAL_OUTCOMES)
# what a valid event must end with: a delivery or a decision about it; INVALID would say the
# worker took it for a bad record
VALID_EVENT_OUTCOMES = frozenset(TERMINAL) - {Outcome.INVALID.value}
# the counts that must be 0, or the run fails (``make chaos`` exits non-zero)
MUST_BE_ZERO = (
    "lost",
    "multi_terminal",
    "fuzz_crashes",
    "repeats_outside_worker_kills",
    "repeats_after_graceful_stop",
    "resends_unsettled",
)
NOW = datetime.now(UTC)
# each event's outcomes counted as the history holds them, row by row: not through the
# report's latest-outcome rule, which is part of what the run puts to the test
EVENT_OUTCOMES_SQL = (
    "SELECT event_id, "
    "countIf(outcome IN {terminal:Array(String)} AND resend_of IS NULL) AS first_terminals, "
    "countIf(outcome = 'DEAD_LETTERED' AND resend_of IS NULL) AS dead_letters, "
    "countIf(outcome = 'SENT') AS sends "
    "FROM status_send_history WHERE tenant = {tenant:String} GROUP BY event_id"
)


def chaos_settings() -> Settings:
    return side_stack_settings(ROOT, "chaos", 21_000, {"ORDERSYNC_HTTP_TIMEOUT_S": "2"})


def store_names() -> list[str]:
    return [f"chaos-{i:03d}" for i in range(STORES)]


def attribute_repeats(
    repeated: list[dict[str, Any]], faults: list[dict[str, Any]], settle_s: float = 1.0
) -> dict[str, Any]:
    """Which worker fault each repeated delivery followed.

    A delivery a kill may repeat was sent before the kill and its order's state was not yet
    written: it is in the snapshot of sends in flight taken just before, or the platform
    received it between that snapshot and the moment the worker was gone (plus
    ``settle_s`` for bytes already on their way).
    """
    counts = {"SIGKILL": 0, "SIGTERM": 0}
    outside: list[dict[str, Any]] = []
    for call in repeated:
        fault = next(
            (
                f
                for f in faults
                if call["event_id"] in f["sending"]
                or f["at"] <= call["first_received_at"] <= f["gone_at"] + settle_s
            ),
            None,
        )
        if fault is None:
            outside.append({k: call.get(k) for k in ("event_id", "action", "first_received_at")})
        else:
            counts[fault["signal"]] += 1
    return {"counts": counts, "outside": outside}


def fates(published: Iterable[str], by_event: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Every published event's fate, from its outcome counts (``EVENT_OUTCOMES_SQL``).

    An event must end its first run through the worker (no resend) with exactly one
    terminal outcome: none is ``lost``, more is ``multi_terminal``. ``dead_lettered``: its
    first run ended in the dead-letter topic; ``sent``: the platform got it, at first or
    after a resend."""
    events = list(published)

    def count(event_id: str, column: str) -> int:
        return int(by_event.get(event_id, {}).get(column) or 0)

    firsts = [count(e, "first_terminals") for e in events]
    return {
        "published": len(events),
        "terminal_once": sum(1 for n in firsts if n == 1),
        "lost": sum(1 for n in firsts if n == 0),
        "multi_terminal": sum(1 for n in firsts if n > 1),
        "dead_lettered": sum(1 for e in events if count(e, "dead_letters") > 0),
        "sent": sum(1 for e in events if count(e, "sends") > 0),
    }


def valid_with_outcome(valid_ids: Iterable[str], lookup: Mapping[str, Any]) -> int:
    """The valid events whose outcome (``/api/lookup``) is one a valid event may end with."""
    return sum(1 for e in valid_ids if (lookup.get(e) or {}).get("outcome") in VALID_EVENT_OUTCOMES)


def unsettled(event_ids: Iterable[str], lookup: Mapping[str, Any]) -> list[str]:
    """The resent events whose latest outcome (``/api/lookup``) is not terminal yet."""
    terminal = set(TERMINAL)
    return [e for e in event_ids if (lookup.get(e) or {}).get("outcome") not in terminal]


def failures(result: Mapping[str, Any]) -> list[str]:
    """Each count of ``MUST_BE_ZERO`` that is not 0 (a missing one fails too)."""
    return [f"{name} = {result.get(name)}" for name in MUST_BE_ZERO if result.get(name) != 0]


def duplicate_timeline(repeated: list[dict[str, Any]]) -> dict[str, int]:
    """Repeated calls per wall-clock second, to set beside the faults' times in the log."""
    seconds = Counter(
        time.strftime("%H:%M:%S", time.localtime(call["received_at"])) for call in repeated
    )
    return dict(sorted(seconds.items()))


class Chaos:
    def __init__(self, settings: Settings) -> None:
        self.base = settings
        self.stack = Stack(settings)
        self.rng = random.Random(SEED)
        self.log: list[str] = []
        self.restarts_on_exit = 0
        self._supervising = threading.Lock()
        # each kill or stop of the worker, with the sends in flight at that moment
        self.worker_faults: list[dict[str, Any]] = []

    def note(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        self.log.append(line)
        print(line, flush=True)

    def supervise(self, run: LocalRun) -> None:
        """Start again a process that stopped by itself, as its supervisor would
        (``restart: unless-stopped`` in the compose file)."""
        with self._supervising:
            for process in (run.worker, run.history):
                if process.proc is not None and process.proc.poll() is not None:
                    code = process.proc.returncode
                    self.note(f"{process.name} stopped by itself (exit {code}); starting it again")
                    self.restarts_on_exit += 1
                    process.start(timeout_s=180)

    def start(self, name: str) -> tuple[Settings, LocalRun, Path]:
        run_id = f"c{uuid.uuid4().hex[:6]}-{name}"
        fault_file = self.base.var_dir / "faults" / f"{run_id}.refuse"
        fault_file.parent.mkdir(parents=True, exist_ok=True)
        settings = replace(
            self.base,
            topic_prefix=f"{run_id}.",
            clickhouse_dsn=f"chdb://{self.base.var_dir / 'clickhouse' / run_id}",
            sink_refuse_file=fault_file,
        )
        ensure_topics(settings)
        run = LocalRun(
            settings,
            settings.var_dir / "log" / run_id,
            {"ORDERSYNC_SINK_REFUSE_FILE": str(fault_file)},
        )
        run.start()
        serve_sandbox_stores(settings, run, "chaos", store_names())
        return settings, run, fault_file

    # -- faults --------------------------------------------------------------------------
    def kill(self, process: LocalProcess, label: str) -> None:
        with self._supervising:  # not restarted twice: supervise() waits for this
            self.note(f"SIGKILL {label}")
            process.kill()
            process.start(timeout_s=180)
        self.note(f"{label} back")

    def stop_worker(self, run: LocalRun, graceful: bool) -> None:
        """SIGKILL or SIGTERM the worker, with a snapshot of its sends in flight just before.

        A send that started after the snapshot reached the platform after it: the calls the
        platform received from the snapshot until the worker was gone are counted in too.
        """
        kind = "SIGTERM" if graceful else "SIGKILL"
        with self._supervising:
            before = time.time()
            try:
                sending = list(run.worker_api("/api/sending")["sending"])
            except OSError as exc:
                sending = []
                self.note(f"the worker's sends in flight could not be read: {exc}")
            self.note(f"{kind} dispatch worker ({len(sending)} sends in flight)")
            if graceful:
                run.worker.stop(timeout_s=120)
            else:
                run.worker.kill()
            gone = time.time()
            run.worker.start(timeout_s=180)
        self.worker_faults.append(
            {"signal": kind, "at": before, "gone_at": gone, "sending": sending}
        )
        self.note(f"dispatch worker back after {kind}")

    def kill_broker(self) -> None:
        pid = self.stack.kafka.process.pid()
        if pid is None:
            raise RuntimeError("no broker process to kill")
        self.note(f"SIGKILL broker (pid {pid})")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: self.stack.kafka.process.pid() is None, 30, "the broker to die")
        # a killed JVM's leader thread turns zombie before its last threads close the sockets
        wait_until(lambda: not port_open(self.base.kafka_port), 30, "the broker's port to close")
        self.stack.kafka.start()
        self.note("broker back")

    def platform_outage(
        self, run: LocalRun, stores: list[str], seconds: float, after: Any = None
    ) -> None:
        if after is not None:
            after()
        self.note(f"{len(stores)} stores answer 503 for {seconds:.0f}s")
        for store in stores:
            http_json(f"{run.sandbox_url}/_faults", {"store": store, "status": 503, "count": -1})
        time.sleep(seconds)  # the fault's duration is the point, not a wait for a condition
        request = urllib.request.Request(f"{run.sandbox_url}/_faults", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()
        self.note("platform recovered")

    def clickhouse_refusal(self, fault_file: Path, seconds: float) -> None:
        self.note(f"ClickHouse writes refused for {seconds:.0f}s")
        fault_file.touch()
        time.sleep(seconds)
        fault_file.unlink()
        self.note("ClickHouse writes accepted again")

    # -- counting ------------------------------------------------------------------------
    def terminal_events(self, run: LocalRun) -> int:
        summary = run.api("/api/summary")
        return sum(int(r["events"]) for r in summary["by_outcome"] if r["outcome"] in TERMINAL)

    def wait_quiet(self, run: LocalRun, expected: int, timeout_s: float) -> None:
        """Until every expected event has a terminal outcome and the sandbox is idle."""
        last: list[int] = []

        def quiet() -> bool:
            self.supervise(run)
            received = run.sandbox_received()
            terminal = self.terminal_events(run)
            last.append(received)
            return terminal >= expected and len(last) > 3 and len(set(last[-3:])) == 1

        wait_until(quiet, timeout_s, f"{expected} events to settle", interval_s=2.0)

    def count(self, settings: Settings, run: LocalRun, published: set[str]) -> dict[str, Any]:
        """Exact counts from the history tables; the history process is paused meanwhile."""
        run.history.stop()
        store = HistoryStore(settings.clickhouse_url)
        try:
            rows = store.query(EVENT_OUTCOMES_SQL, {"terminal": TERMINAL, "tenant": "chaos"})
        finally:
            store.close()
            run.history.start(timeout_s=180)
        stats = http_json(f"{run.sandbox_url}/_stats")
        return {
            **fates(published, {r["event_id"]: r for r in rows}),
            "duplicate_deliveries": int(stats["duplicates"]),
        }

    def lookup(self, run: LocalRun, event_ids: list[str]) -> dict[str, Any]:
        """Each event's latest outcome, from the history's API."""
        found: dict[str, Any] = {}
        for start in range(0, len(event_ids), 1000):
            chunk = run.api("/api/lookup", {"event_ids": event_ids[start : start + 1000]})
            found.update(chunk["events"])
        return found

    def resend_open_errors(self, run: LocalRun) -> list[str]:
        """Resend every open error once, as an operator would: one selection at a time.
        Returns the events resent."""
        resent: list[str] = []
        while True:
            report = run.api("/api/resend", {"tenant": "chaos", "limit": 10_000}, timeout=300)
            if not report["resent"]:
                return resent
            self.note(f"resent {report['resent']} open errors")
            ids = list(report["event_ids"])
            resent += ids
            # the RESENT outcomes reach the history through Kafka: select again only after
            wait_until(partial(self.none_open, run, ids), 300, "the resends to be recorded", 1.0)

    def none_open(self, run: LocalRun, event_ids: list[str]) -> bool:
        found = self.lookup(run, event_ids)
        return not any(e["outcome"] == "DEAD_LETTERED" for e in found.values())

    def wait_for_resends(
        self, run: LocalRun, event_ids: list[str], timeout_s: float, interval_s: float = 2.0
    ) -> list[str]:
        """Until every resent event has a terminal outcome again; returns those that did
        not within ``timeout_s`` (the run then fails: their fate is not known)."""
        waiting = list(event_ids)

        def settled() -> bool:
            nonlocal waiting
            waiting = unsettled(waiting, self.lookup(run, waiting))
            return not waiting

        try:
            wait_until(settled, timeout_s, "the resent events to settle", interval_s)
        except StackError as exc:
            self.note(f"{exc}: {len(waiting)} resent events without a terminal outcome")
        return waiting

    # -- phases --------------------------------------------------------------------------
    def faults_run(self) -> dict[str, Any]:
        settings, run, fault_file = self.start("faults")
        try:
            stores = store_names()
            batch = lifecycle_records(EVENTS, "o", stores)
            publisher = AckedPublisher(settings)

            def publish_all() -> None:
                for record in batch:
                    publisher.send_record(record)

            publishing = threading.Thread(target=publish_all, daemon=True)
            started = time.time()
            publishing.start()
            outage_stores = stores[-OUTAGE_STORES:]
            healthy_events = sum(1 for r in batch if r["integration"] not in outage_stores)

            def at_progress(fraction: float) -> None:
                target = int(healthy_events * fraction)

                def reached() -> bool:
                    self.supervise(run)
                    return run.sandbox_received() >= target

                wait_until(
                    reached,
                    1800,
                    f"{target} deliveries",
                    interval_s=0.2,
                )

            outage = threading.Thread(
                target=self.platform_outage,
                args=(run, outage_stores, OUTAGE_S, lambda: at_progress(0.1)),
                daemon=True,
            )
            outage.start()
            moments = sorted(self.rng.uniform(0.05, 0.9) for _ in range(WORKER_KILLS + 4))
            plan = ["worker"] * WORKER_KILLS + ["worker_stop", "history", "broker", "clickhouse"]
            self.rng.shuffle(plan)
            refusal: threading.Thread | None = None
            for moment, fault in zip(moments, plan, strict=True):
                at_progress(moment)
                self.note(f"at {moment:.0%} of deliveries: {fault}")
                if fault in ("worker", "worker_stop"):
                    self.stop_worker(run, graceful=fault == "worker_stop")
                elif fault == "history":
                    self.kill(run.history, "history process")
                elif fault == "broker":
                    self.kill_broker()
                else:
                    refusal = threading.Thread(
                        target=self.clickhouse_refusal, args=(fault_file, REFUSE_S), daemon=True
                    )
                    refusal.start()
            publishing.join()
            publisher.flush()
            outage.join()
            if refusal:
                refusal.join()
            published = set(publisher.acked)
            self.note(f"published {len(published)} (failed {len(publisher.failed)}); settling")
            self.wait_quiet(run, len(published), 1800)
            first = self.count(settings, run, published)
            self.note(f"counted: {first}")
            resent = self.resend_open_errors(run)
            resends_unsettled = self.wait_for_resends(run, resent, 600)
            second = self.count(settings, run, published)
            self.note(f"after resend: {second}")
            repeated = http_json(f"{run.sandbox_url}/_duplicates", timeout=60)
            timeline = duplicate_timeline(repeated)
            self.note(f"duplicate deliveries by second repeated: {timeline}")
            blame = attribute_repeats(repeated, self.worker_faults)
            self.note(f"repeated deliveries by the fault they followed: {blame['counts']}")
            return {
                "worker_faults": [
                    {
                        "signal": f["signal"],
                        "at": datetime.fromtimestamp(f["at"], UTC).isoformat(
                            timespec="milliseconds"
                        ),
                        "sends_in_flight": len(f["sending"]),
                        "sending": f["sending"],
                    }
                    for f in self.worker_faults
                ],
                "repeats_by_fault": blame["counts"],
                "repeats_after_graceful_stop": blame["counts"]["SIGTERM"],
                "repeats_outside_worker_kills": blame["outside"],
                "first": first,
                "after_resend": second,
                "duplicate_timeline": timeline,
                # which events, so a run can be traced in its history afterwards
                "duplicates": [
                    {
                        k: call.get(k)
                        for k in ("event_id", "action", "first_received_at", "received_at")
                    }
                    for call in repeated
                ],
                "resent": len(resent),
                "resends_unsettled": resends_unsettled,
                "seconds": round(time.time() - started, 1),
                "publish_failures": len(publisher.failed),
                "input_topic_records_resends_included": self.input_events(settings),
                "restarts_after_stopping_by_itself": self.restarts_on_exit,
            }
        finally:
            run.stop()

    def input_events(self, settings: Settings) -> int:
        """Records on the input topic, read back from the broker."""
        consumer = Consumer(topics.kafka_config(settings, {"group.id": "chaos-count"}))
        total = 0
        topic = settings.topic(topics.EVENTS)
        for partition in range(settings.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        consumer.close()
        return total

    def fuzz_run(self) -> dict[str, Any]:
        settings, run, _ = self.start("fuzz")
        try:
            publisher = AckedPublisher(settings)
            fuzzer = Fuzzer(settings, self.rng, store_names())
            valid = lifecycle_records(FUZZ_RECORDS // 4, "f", store_names())
            kinds, header_records = fuzzer.publish_interleaved(publisher, valid, FUZZ_RECORDS)
            publisher.flush()
            valid_ids = [r["event_id"] for r in valid]
            expected_outcomes = len(publisher.acked)  # one outcome per record the broker took
            wait_until(
                lambda: int(run.api("/api/summary")["total"]["rows"]) >= expected_outcomes,
                900,
                f"{expected_outcomes} outcomes of the fuzz run",
                interval_s=2.0,
            )
            lookup = self.lookup(run, valid_ids)
            seen = self.lookup(run, list(header_records))
            by_kind: dict[str, dict[str, int]] = {
                kind: {"published": 0, "as_expected": 0} for kind in HEADER_KINDS
            }
            unexpected = []
            for event_id, kind in header_records.items():
                by_kind[kind]["published"] += 1
                got = seen.get(event_id)
                outcome = (got["outcome"], got["reason_code"]) if got else ("none", "")
                if outcome == HEADER_KINDS[kind]:
                    by_kind[kind]["as_expected"] += 1
                else:
                    unexpected.append({"event_id": event_id, "kind": kind, "got": outcome})
            summary = {r["outcome"]: int(r["rows"]) for r in run.api("/api/summary")["by_outcome"]}
            crashes = run.worker.proc is None or run.worker.proc.poll() is not None
            log_text = run.worker.log_path.read_text(errors="replace")
            return {
                "fuzz_records": FUZZ_RECORDS,
                "fuzz_published": len(publisher.acked) - len(valid_ids),
                "fuzz_refused_by_producer": publisher.failed,
                "fuzz_kinds": kinds,
                "fuzz_crashes": int(crashes) + log_text.count("Crashed reason="),
                "fuzz_outcomes": summary,
                "valid_events": len(valid_ids),
                "valid_with_outcome": valid_with_outcome(valid_ids, lookup),
                "header_and_key_kinds": by_kind,
                "header_and_key_unexpected": unexpected,
            }
        finally:
            run.stop()


def main() -> int:
    console_logging()
    settings = chaos_settings()
    chaos = Chaos(settings)
    chaos.note(
        f"chaos: {'quick' if QUICK else 'full'} run, {EVENTS} events, {STORES} stores, "
        f"{WORKER_KILLS} worker kills, seed {SEED}"
    )
    chaos.stack.up()
    try:
        faults = chaos.faults_run()
        fuzz = chaos.fuzz_run()
    finally:
        if os.environ.get("CHAOS_KEEP_STACK") != "1":
            chaos.stack.down()
    first, second = faults["first"], faults["after_resend"]
    result = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "published": first["published"],
        "terminal_once": first["terminal_once"],
        "lost": first["lost"],
        "multi_terminal": first["multi_terminal"],
        "duplicate_deliveries": first["duplicate_deliveries"],
        "dead_lettered": first["dead_lettered"],
        "after_resend_sent": second["sent"],
        "resends_unsettled": len(faults["resends_unsettled"]),
        "after_resend": second,
        "fuzz_records": fuzz["fuzz_records"],
        "fuzz_crashes": fuzz["fuzz_crashes"],
        "fuzz_header_and_key_unexpected": len(fuzz["header_and_key_unexpected"]),
        "repeats_after_graceful_stop": faults["repeats_after_graceful_stop"],
        "repeats_outside_worker_kills": len(faults["repeats_outside_worker_kills"]),
        "fuzz": fuzz,
        "faults": {k: v for k, v in faults.items() if k not in ("first", "after_resend")},
        "timeline": chaos.log,
        "settings": {
            "quick": QUICK,
            "events": EVENTS,
            "stores": STORES,
            "worker_kills": WORKER_KILLS,
            "worker_graceful_stops": 1,
            "history_kills": 1,
            "broker_kills": 1,
            "clickhouse_refusal_s": REFUSE_S,
            "platform_outage_s": OUTAGE_S,
            "platform_outage_stores": OUTAGE_STORES,
            "seed": SEED,
            "fuzz_kinds": ALL_KINDS,
        },
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in list(result)[1:15]}, indent=2))
    failed = failures(result)
    if failed:
        print(f"chaos: FAILED, must be 0: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
