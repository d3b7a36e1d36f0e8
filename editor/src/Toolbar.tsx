/** The editor's toolbar: file, layout, history, validation and deploy buttons. */
import { useRef } from "react";
import { FIT_MIN_ZOOM } from "./core/canvas-detail";

/**
 * Fit shows the whole pipeline, its nodes compact when that needs a small zoom (their text then
 * grows to stay readable: core/canvas-detail.ts); below FIT_MIN_ZOOM a larger pipeline is panned.
 */
export const FIT = { padding: 0.1, maxZoom: 1.25, minZoom: FIT_MIN_ZOOM };

export interface ToolbarProps {
  name: string;
  problemCount: number;
  deployed?: string;
  onImport(file: File): void;
  onImportNodeRed(): void;
  onExport(): void;
  onLayout(): void;
  onFit(): void;
  onUndo(): void;
  onRedo(): void;
  onValidate(): void;
  onDeploy(): void;
  onStop(): void;
}

export function Toolbar(p: ToolbarProps) {
  const fileInput = useRef<HTMLInputElement>(null);
  return (
    <header className="toolbar">
      <b className="brand">Evoflow</b>
      <span className="doc-name" data-testid="doc-name">
        {p.name}
      </span>
      <button type="button" onClick={() => fileInput.current?.click()} data-testid="import">
        Import
      </button>
      <input ref={fileInput} type="file" accept=".json,application/json" hidden data-testid="import-file" onChange={(e) => {
        const file = e.target.files?.[0];
        if (file) p.onImport(file);
        e.target.value = "";
      }} />
      <button type="button" onClick={p.onImportNodeRed} data-testid="import-node-red" title="Paste a Node-RED flows.json">
        Import Node-RED
      </button>
      <button type="button" onClick={p.onExport} data-testid="export">
        Export
      </button>
      <span className="sep" />
      <button type="button" onClick={p.onLayout} data-testid="layout" title="Auto-layout, left to right (dagre)">
        Layout
      </button>
      <button type="button" onClick={p.onFit} data-testid="fit">
        Fit
      </button>
      <button type="button" onClick={p.onUndo} title="Ctrl+Z" data-testid="undo">
        Undo
      </button>
      <button type="button" onClick={p.onRedo} title="Ctrl+Shift+Z" data-testid="redo">
        Redo
      </button>
      <span className="sep" />
      <button type="button" onClick={p.onValidate} data-testid="validate" className={p.problemCount ? "warn" : ""}>
        {p.problemCount ? `${p.problemCount} problem${p.problemCount > 1 ? "s" : ""}` : "Valid"}
      </button>
      <button type="button" onClick={p.onDeploy} data-testid="deploy" className="primary">
        Deploy
      </button>
      <button type="button" onClick={p.onStop} disabled={!p.deployed} data-testid="stop">
        Stop
      </button>
      {p.deployed && (
        <span className="deployed" data-testid="deployed">
          ● running {p.deployed}
        </span>
      )}
      <span className="grow" />
      <a href="#/packages" data-testid="open-palette-manager">Palette manager</a>
      <a href="#/services">CL dashboard</a>
      <a href="#/drift" data-testid="open-drift-eval">Drift evaluation</a>
    </header>
  );
}
