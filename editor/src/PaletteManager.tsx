/**
 * The palette manager (`#/packages`), as Node-RED's: the node packages this runtime loaded with
 * their version and the node types each adds, install by npm name (or a tarball or folder in the
 * runtime's data folder), uninstall. The runtime does the work (runtime/api/packages.ts): it needs
 * the operator role and the `exec` grant, and says so when either is missing; npm's output is
 * shown as it answered. A type's help opens from its chip.
 */
import "./packages.css";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, type InstallRequest, type NodeTypeInfo, type PackageInfo } from "./api";
import { NodeHelp } from "./NodeHelp";
import { NodeIcon, nodeColor } from "./node-look";

type Kind = keyof { package: 1; tarball: 1; folder: 1 };

const SOURCES: Record<string, string> = {
  builtin: "Evoflow's own",
  project: "the project's node_modules",
  data: "installed here",
  dir: "--nodes folder",
};

/** An ApiError's message with its problems (and npm's last lines) under it. */
function describeError(err: unknown): { text: string; npm?: string } {
  if (!(err instanceof ApiError)) return { text: (err as Error).message };
  const body = err.body as { problems?: unknown[]; npm?: string } | undefined;
  const problems = (body?.problems ?? []).map((p) => (typeof p === "string" ? p : JSON.stringify(p)));
  return { text: [err.message, ...problems].join("\n"), npm: body?.npm || undefined };
}

export function PaletteManager() {
  const [packages, setPackages] = useState<PackageInfo[]>();
  const [canManage, setCanManage] = useState(false);
  const [types, setTypes] = useState(new Map<string, NodeTypeInfo>());
  const [kind, setKind] = useState<Kind>("package");
  const [spec, setSpec] = useState("");
  const [busy, setBusy] = useState<string>();
  const [result, setResult] = useState<{ ok: boolean; text: string; npm?: string }>();
  const [help, setHelp] = useState<string>();

  const refresh = useCallback(async () => {
    const [listed, described] = await Promise.all([api.packages(), api.nodes()]);
    setPackages(listed.packages);
    setCanManage(listed.canManage);
    setTypes(new Map(described.map((t) => [t.type, t])));
  }, []);
  useEffect(() => {
    refresh().catch((err: Error) => setResult({ ok: false, text: `Cannot reach the Evoflow runtime: ${err.message}` }));
  }, [refresh]);

  const install = async () => {
    const value = spec.trim();
    if (!value) return;
    setBusy(`installing ${value}…`);
    setResult(undefined);
    try {
      const done = await api.installPackage({ [kind]: value } as InstallRequest);
      const p = done.package;
      setResult({ ok: true, text: `Installed ${p.name}@${p.version}${done.replaced ? ` (was ${done.replaced})` : ""}: adds ${done.added.join(", ") || "no new types"}.`, npm: done.npm });
      setSpec("");
    } catch (err) {
      setResult({ ok: false, ...describeError(err) });
    } finally {
      setBusy(undefined);
      await refresh().catch(() => undefined);
    }
  };

  const uninstall = async (name: string) => {
    if (!window.confirm(`Uninstall ${name}? Its node types leave the palette.`)) return;
    setBusy(`uninstalling ${name}…`);
    setResult(undefined);
    try {
      const done = await api.uninstallPackage(name);
      setResult({ ok: true, text: `Uninstalled ${name}${done.types.length ? `: ${done.types.join(", ")} are gone` : ""}.`, npm: done.npm });
    } catch (err) {
      setResult({ ok: false, ...describeError(err) });
    } finally {
      setBusy(undefined);
      await refresh().catch(() => undefined);
    }
  };

  const helpInfo = help ? types.get(help) : undefined;
  return (
    <div className="manager" data-testid="palette-manager">
      <nav>
        <h2>Palette manager</h2>
        <a href="#/">← editor</a>
        <a href="#/services">CL dashboard</a>
      </nav>
      {!canManage && packages && (
        <div className="notice" data-testid="manage-locked">
          This runtime does not grant the <code>exec</code> capability, so packages cannot be installed or removed from here (installing runs npm and the
          package's code). Start it with <code>--grant exec</code>, or use <code>evoflow nodes install</code> and restart it.
        </div>
      )}
      <form
        className="install-form"
        onSubmit={(e) => {
          e.preventDefault();
          void install();
        }}
      >
        <select value={kind} onChange={(e) => setKind(e.target.value as Kind)} data-testid="install-kind" disabled={!canManage}>
          <option value="package">npm name</option>
          <option value="tarball">tarball in the data folder</option>
          <option value="folder">folder in the data folder</option>
        </select>
        <input
          value={spec}
          onChange={(e) => setSpec(e.target.value)}
          placeholder={kind === "package" ? "evoflow-nodes-acme or evoflow-nodes-acme@^1" : "relative to the runtime's data folder, e.g. evoflow-nodes-acme-1.0.0.tgz"}
          data-testid="install-spec"
          disabled={!canManage || busy !== undefined}
        />
        <button type="submit" className="primary" disabled={!canManage || busy !== undefined || !spec.trim()} data-testid="install">
          Install
        </button>
      </form>
      {busy && <div className="muted" data-testid="manage-busy">{busy} (npm is working)</div>}
      {result && (
        <div className={result.ok ? "done" : "error"} data-testid="manage-result">
          {result.text}
          {result.npm && <pre className="npm" data-testid="npm-output">{result.npm}</pre>}
        </div>
      )}
      {!packages && !result && <div className="muted">Loading packages…</div>}
      {packages?.map((p) => (
        <section key={p.name} className="package-card" data-testid={`package-${p.name}`}>
          <header>
            <span className="name">{p.name}</span>
            <span className="mono" data-testid={`package-version-${p.name}`}>{p.version}</span>
            <span className="muted grow">
              {SOURCES[p.source] ?? p.source} · SDK {p.sdk} · namespace{p.namespaces.length > 1 ? "s" : ""} {p.namespaces.join(", ")}
            </span>
            {p.source === "data" && (
              <button type="button" className="warn" disabled={!canManage || busy !== undefined} onClick={() => void uninstall(p.name)} data-testid={`uninstall-${p.name}`}>
                Uninstall
              </button>
            )}
          </header>
          <div className="package-types">
            {p.types.map((type) => {
              const info = types.get(type);
              return (
                <span key={type} className="type-chip" style={{ borderLeftColor: nodeColor(info) }} onClick={() => setHelp(help === type ? undefined : type)} title={info?.description} data-testid={`type-${type}`}>
                  <NodeIcon info={info} />
                  {info?.title ?? type} <span className="mono muted">{type}</span>
                </span>
              );
            })}
          </div>
          {helpInfo && p.types.includes(helpInfo.type) && (
            <div className="help-aside">
              <NodeHelp info={helpInfo} onClose={() => setHelp(undefined)} />
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
