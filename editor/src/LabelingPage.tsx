/**
 * Active learning's labeling page (`#/labels/<queue>`): the item leased to you — an image drawn
 * from an image-shaped tensor, a record as a table — with the model's top guesses; label it by
 * click or key (shown on each button), skip with `s` or Escape. Below, who labelled what and when.
 */
import { useEffect, useState } from "react";
import { choicesOf, guessText, itemView, keyAction, labelledBy } from "./core/labeling";
import { useLabelQueue } from "./hooks/useLabelQueue";
import { TensorImage } from "./TensorView";

const NAME_KEY = "evoflow.labeler";

function NameForm({ onName }: { onName: (name: string) => void }) {
  const [name, setName] = useState("");
  return (
    <form
      className="labeler-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) onName(name.trim());
      }}
    >
      <label>
        Your name, recorded with each label: <input data-testid="labeler-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      </label>
      <button type="submit">Start labeling</button>
    </form>
  );
}

function ItemInput({ input }: { input: unknown }) {
  const view = itemView(input);
  if (view.kind === "image") return <TensorImage tensor={view.tensor} size={224} />;
  if (view.kind === "record")
    return (
      <table className="history" data-testid="label-record">
        <tbody>
          {view.rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  return <pre>{view.text}</pre>;
}

export function LabelingPage({ queue }: { queue: string }) {
  const [labeler, setLabeler] = useState<string | undefined>(() => localStorage.getItem(NAME_KEY) ?? undefined);
  const state = useLabelQueue(queue, labeler);
  const { info, item } = state;
  const choices = item ? choicesOf(info?.classes, item.guesses) : [];

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
      const action = keyAction(e.key, choices);
      if (action?.kind === "label") state.label(action.label);
      else if (action?.kind === "skip") state.skip();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <div className="dashboard" data-testid="labeling-page">
      <header>
        <h1>Label queue {queue}</h1>
        {info && (
          <span className="muted" data-testid="label-counts">
            {info.counts.queued} waiting · {info.counts.leased} being labelled · {info.counts.labelled} labelled
          </span>
        )}
        {labeler && (
          <span>
            labeling as <b data-testid="labeler">{labeler}</b>{" "}
            <button
              onClick={() => {
                localStorage.removeItem(NAME_KEY);
                setLabeler(undefined);
              }}
            >
              change
            </button>
          </span>
        )}
      </header>
      {state.error && <div className="page-error" data-testid="label-error">{state.error}</div>}
      {!labeler ? (
        <NameForm
          onName={(name) => {
            localStorage.setItem(NAME_KEY, name);
            setLabeler(name);
          }}
        />
      ) : item ? (
        <div className="label-item" data-testid="label-item" data-item={item.id}>
          <ItemInput input={item.input} />
          <div>
            <div className="label">the model's top guesses</div>
            <ol data-testid="label-guesses">
              {item.guesses.map((g) => (
                <li key={g.label}>{guessText(g)}</li>
              ))}
            </ol>
            <div className="muted">
              {item.strategy} {item.score.toFixed(2)} · request {item.requestId}
              {item.skips.length > 0 && ` · skipped ${item.skips.length}×`}
            </div>
            <div className="label-choices">
              {choices.map((c) => (
                <button key={c.label} onClick={() => state.label(c.label)} data-testid={`label-choice-${c.label}`}>
                  <kbd>{c.key}</kbd> {c.name}
                </button>
              ))}
              <button onClick={state.skip} data-testid="label-skip">
                <kbd>s</kbd> skip
              </button>
            </div>
          </div>
        </div>
      ) : (
        <div className="muted" data-testid="label-empty">
          {state.empty ? "Nothing to label right now: items appear as the sampler picks them." : "Loading…"}
        </div>
      )}
      <h2>Recently labelled</h2>
      <table className="history" data-testid="label-recent">
        <tbody>
          {state.recent.map((it) => (
            <tr key={it.id}>
              <td>{it.requestId}</td>
              <td>{labelledBy(it, info?.classes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
