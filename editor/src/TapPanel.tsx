/**
 * The live tap of an edge. The runtime samples a fast edge down to ~20 messages
 * a second and reports how many it saw, so the rate shown is the edge's true
 * rate; the panel draws a few times a second, so the page stays responsive.
 * Pause freezes the list; "Load past" reads the edge's ring back; a message
 * opens its trace, or is saved as a test case (hooks/useRecordCase.ts).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { api, tapSocketUrl, type Envelope, type Trace, type TraceNode } from "./api";
import { defaultCaseName, type TappedEdge } from "./core/pipeline-tests";
import { useRecordCase } from "./hooks/useRecordCase";
import { findTensors, previewJson, TensorImage, TensorSummary } from "./TensorView";

const KEEP = 200;
const FLUSH_MS = 250;
/** At most this many messages are drawn per flush. */
const DRAW_PER_FLUSH = 8;

interface TapState {
  messages: Envelope[];
  rate: number;
  received: number;
  sampled: boolean;
}

export function TapPanel({ pipeline, edge, from }: { pipeline: string; edge: string; from: { node: string; port: string } }) {
  const [state, setState] = useState<TapState>({ messages: [], rate: 0, received: 0, sampled: false });
  const [paused, setPaused] = useState(false);
  const [connected, setConnected] = useState(false);
  const [error, setError] = useState<string>();
  const [selected, setSelected] = useState<Envelope>();
  const [traceId, setTraceId] = useState<string>();
  const pending = useRef<Envelope[]>([]);
  const counted = useRef(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  const loadPast = useCallback(async () => {
    try {
      const past = await api.tapMessages(pipeline, edge, KEEP);
      setState((s) => ({ ...s, messages: past.messages.slice().reverse(), received: Math.max(s.received, past.total) }));
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [pipeline, edge]);

  useEffect(() => {
    setState({ messages: [], rate: 0, received: 0, sampled: false });
    setSelected(undefined);
    void loadPast();
    const socket = new WebSocket(tapSocketUrl(pipeline, edge));
    socket.onopen = () => setConnected(true);
    socket.onclose = () => setConnected(false);
    socket.onmessage = (ev) => {
      const frame = JSON.parse(ev.data as string) as { message?: Envelope; seen?: number; error?: string };
      if (frame.seen !== undefined) counted.current = frame.seen;
      else if (frame.error) setError(frame.error);
      else if (frame.message) {
        const queue = pending.current;
        queue.push(frame.message);
        if (queue.length > DRAW_PER_FLUSH * 4) queue.splice(0, queue.length - DRAW_PER_FLUSH);
      }
    };
    // The rate is what the edge carried over the last second (the last few counts).
    const recent: { at: number; count: number }[] = [{ at: performance.now(), count: 0 }];
    let lastCount = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      const arrived = counted.current - lastCount;
      lastCount = counted.current;
      recent.push({ at: now, count: counted.current });
      while (recent.length > 5) recent.shift();
      const rate = ((recent[recent.length - 1].count - recent[0].count) * 1000) / Math.max(1, now - recent[0].at);
      const received = pending.current.splice(0);
      const fresh = pausedRef.current ? [] : received.slice(-DRAW_PER_FLUSH);
      setState((s) => {
        if (!fresh.length && s.rate === rate && arrived === 0) return s;
        return {
          messages: fresh.length ? [...fresh.reverse(), ...s.messages].slice(0, KEEP) : s.messages,
          rate,
          received: s.received + arrived,
          sampled: arrived > fresh.length,
        };
      });
    }, FLUSH_MS);
    return () => {
      clearInterval(timer);
      socket.close();
      pending.current = [];
      counted.current = 0;
    };
  }, [pipeline, edge, loadPast]);

  return (
    <div className="tap-panel" data-testid="tap-panel">
      <div className="tap-header">
        <span className={`dot ${connected ? "on" : "off"}`} title={connected ? "live" : "not connected"} />
        <b>{edge}</b>
      </div>
      <div className="tap-controls">
        <span data-testid="tap-rate">{state.rate.toFixed(0)} msg/s</span>
        <span className="muted">{state.received} seen</span>
        {state.sampled && !paused && <span className="badge">sampled</span>}
        <button type="button" onClick={() => setPaused((p) => !p)} data-testid="tap-pause">
          {paused ? "Resume" : "Pause"}
        </button>
        <button
          type="button"
          onClick={() => {
            setPaused(true);
            void loadPast();
          }}
        >
          Load past
        </button>
      </div>
      {error && <div className="field-problem">{error}</div>}
      <ul className="tap-list" data-testid="tap-messages">
        {state.messages.map((m) => (
          <li key={m.id} className={selected?.id === m.id ? "selected" : ""} onClick={() => setSelected(m)} data-testid="tap-message">
            <span className="muted">{new Date(m.ts).toISOString().slice(11, 23)}</span> <span className="mono">{previewJson(m.payload).slice(0, 90)}</span>
          </li>
        ))}
        {state.messages.length === 0 && <li className="muted">No messages yet.</li>}
      </ul>
      {selected && <MessageDetail message={selected} onTrace={() => setTraceId(selected.traceId)} />}
      <SaveAsTest pipeline={pipeline} edge={{ id: edge, ...from }} selected={selected} shown={state.messages} />
      {traceId && <TraceView traceId={traceId} onClose={() => setTraceId(undefined)} />}
    </div>
  );
}

function MessageDetail({ message, onTrace }: { message: Envelope; onTrace(): void }) {
  const tensors = findTensors(message.payload);
  return (
    <div className="message-detail" data-testid="message-detail">
      <div className="muted">
        {message.source.node}.{message.source.port} · {new Date(message.ts).toISOString()}
        {message.source.model && ` · model ${message.source.model.name}@${message.source.model.version}`}
      </div>
      {tensors.map((t) => (
        <TensorSummary key={t.path} tensor={t} />
      ))}
      <pre className="payload">{previewJson(message.payload, 2)}</pre>
      <button type="button" onClick={onTrace} data-testid="open-trace">
        Open trace {message.traceId.slice(0, 8)}…
      </button>
    </div>
  );
}

/**
 * Saves the traces of the selected message, or of every message shown, as a case of the
 * pipeline's test file: their inputs, and what this edge carried in them.
 */
function SaveAsTest({ pipeline, edge, selected, shown }: { pipeline: string; edge: TappedEdge; selected?: Envelope; shown: Envelope[] }) {
  const [name, setName] = useState(() => defaultCaseName(edge.id, new Date()));
  const { save, saving, outcome } = useRecordCase(pipeline, edge);
  const ready = !saving && name.trim() !== "";
  return (
    <div>
      <div className="save-as-test">
        <input value={name} onChange={(e) => setName(e.target.value)} data-testid="test-name" title="The case's name in the test file" />
        <button type="button" disabled={!ready || !selected} onClick={() => selected && void save([selected], name.trim())} data-testid="save-as-test" title="Its trace's input, and what this edge carried">
          Save selected as test
        </button>
        <button type="button" disabled={!ready || shown.length === 0} onClick={() => void save(shown, name.trim())} data-testid="save-shown-as-test" title="The traces of every message listed, in one case">
          Save {shown.length} shown
        </button>
      </div>
      {outcome && (
        <div className={`save-outcome ${outcome.kind === "ok" ? "ok" : "field-problem"}`} data-testid="save-as-test-outcome">
          {outcome.text}
        </div>
      )}
    </div>
  );
}

function TraceTree({ nodes }: { nodes: TraceNode[] }) {
  return (
    <ul className="trace-tree">
      {nodes.map((n) => (
        <li key={n.id}>
          <div className="trace-node">
            <b>
              {n.node}.{n.port}
            </b>{" "}
            <span className="muted">{new Date(n.ts).toISOString().slice(11, 23)}</span>
            {n.model && <span className="badge">model {n.model.name}@{n.model.version}</span>}
            <div className="trace-payload">
              {findTensors(n.payload).slice(0, 1).map((t) => (
                <TensorImage key={t.path} tensor={t} size={28} />
              ))}
              <span className="mono">{previewJson(n.payload).slice(0, 140)}</span>
            </div>
          </div>
          {n.parents.length > 0 && <TraceTree nodes={n.parents} />}
        </li>
      ))}
    </ul>
  );
}

/** The provenance of a trace: each output with, below it, the messages it was made from. */
export function TraceView({ traceId, onClose }: { traceId: string; onClose(): void }) {
  const [trace, setTrace] = useState<Trace>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.trace(traceId).then(setTrace, (err: Error) => setError(err.message));
  }, [traceId]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal" onClick={(e) => e.stopPropagation()} data-testid="trace-view">
        <div className="modal-title">
          Trace <span className="mono">{traceId}</span>
          <button type="button" className="link" onClick={onClose}>
            close
          </button>
        </div>
        {error && <div className="field-problem">{error}</div>}
        {trace && (
          <>
            <div className="muted">
              pipeline {trace.pipeline} · {trace.messages.length} messages
            </div>
            <TraceTree nodes={trace.outputs} />
          </>
        )}
      </div>
    </div>
  );
}
