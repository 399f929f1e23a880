// Prometheus metrics (prom-client). One registry per thread: the main thread's holds the
// process-wide metrics (Node's default ones, the supervisor, the mailbox, the miner API); each
// role actor's worker thread has its own (this module is loaded afresh in every thread), where
// the role's components (sector-number server, deal server, seal service, KV stores) count.
//
// How worker metrics reach `/debug/metrics`: on a scrape the supervisor asks every running
// worker for `registry.getMetricsAsJSON()` (one msgpackr message each way, see
// actors/protocol.ts), adds a `role` label to each sample and merges them with the main
// thread's own with prom-client's `AggregatorRegistry.aggregate` (the logic prom-client uses
// for Node cluster workers). We chose pull-on-scrape over pushing deltas because it costs the
// roles nothing between scrapes (a counter increment is a field update in their own thread, no
// message), needs no delta bookkeeping that a lost message or a restart could skew, and a
// worker that does not answer in time (a role stuck in a loop) only drops its own samples from
// that scrape — the main thread's are always served. A restarted role starts its counters at
// 0 again, which Prometheus reads as an ordinary counter reset.
//
// Names: `distminer_` prefix, units in the name (`_seconds`, `_bytes`, `_total`).
import {
  AggregatorRegistry,
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** This thread's registry. */
export const registry = new Registry();

let defaults = false;
/** Node's default metrics (event-loop lag, heap, GC, CPU, fds) into this thread's registry; once. */
export function enableDefaultMetrics(): void {
  if (defaults) return;
  defaults = true;
  collectDefaultMetrics({ register: registry });
}

// Get-or-create: a component may be built more than once in a thread (tests, a restarted
// server); the metric is registered once and shared.
function existing<T>(name: string, kind: new (...a: never[]) => T): T | undefined {
  const m = registry.getSingleMetric(name);
  if (!m) return undefined;
  if (!(m instanceof kind)) throw new Error(`metric ${name} is already registered as another type`);
  return m as T;
}

export function counter<L extends string>(cfg: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  return existing<Counter<L>>(cfg.name, Counter) ?? new Counter<L>({ ...cfg, registers: [registry] });
}

export function gauge<L extends string>(cfg: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return existing<Gauge<L>>(cfg.name, Gauge) ?? new Gauge<L>({ ...cfg, registers: [registry] });
}

export function histogram<L extends string>(cfg: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
  return existing<Histogram<L>>(cfg.name, Histogram) ?? new Histogram<L>({ ...cfg, registers: [registry] });
}

/** Buckets for latencies from a millisecond to ten minutes. */
export const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600];
/** Buckets for disk syncs: 50 µs to 5 s. */
export const FSYNC_BUCKETS = [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** Gauges computed at scrape time from live objects: `collect` runs for each live source. */
export class LiveSet<T> {
  private readonly items = new Set<T>();
  add(x: T): () => void {
    this.items.add(x);
    return () => this.items.delete(x);
  }
  [Symbol.iterator](): Iterator<T> {
    return this.items[Symbol.iterator]();
  }
  get size(): number {
    return this.items.size;
  }
}

/** This thread's metrics as JSON (what a worker answers the supervisor with). */
export function metricsJson(): Promise<MetricsJson> {
  return registry.getMetricsAsJSON() as Promise<MetricsJson>;
}

/** Adds `labels` to every sample of `json` (a worker's metrics get their role). */
export function withLabels(json: MetricsJson, labels: Record<string, string>): MetricsJson {
  return json.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, ...labels } })) }));
}

export const CONTENT_TYPE = registry.contentType;

/**
 * The exposition text of this thread's registry merged with `others` (workers' JSON, already
 * labelled). Families of one name from several threads are merged into one (samples of equal
 * label sets summed, as prom-client does for cluster workers).
 */
export async function exposition(others: MetricsJson[] = []): Promise<string> {
  if (others.length === 0) return registry.metrics();
  const mine = await metricsJson();
  return AggregatorRegistry.aggregate([mine, ...others]).metrics();
}
