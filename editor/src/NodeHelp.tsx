/**
 * A node type's docs, generated from its declaration alone as `/api/nodes` describes it: the
 * description, each config field from its JSON Schema (type, default, limits, the field's own
 * `.describe()` text), the ports with their types, what it needs, and an example: the
 * declaration's own, else the node as a pipeline file holds it with its defaults. A package's
 * node gets the same page as Evoflow's.
 */
import "./packages.css";
import type { JsonSchema, NodeTypeInfo, PortJson } from "./api";
import { lockReason } from "./api";
import { NodeIcon, nodeColor } from "./node-look";

/** What a schema accepts, in a few words: `number ≥ 0`, `one of "a", "b"`, `array of string`. */
function typeText(s: JsonSchema): string {
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  const options = s.anyOf ?? s.oneOf;
  if (options) return options.map(typeText).join(" or ");
  const type = Array.isArray(s.type) ? s.type.join(" or ") : (s.type ?? "any");
  const limits = [
    s.minimum !== undefined && `≥ ${s.minimum}`,
    s.exclusiveMinimum !== undefined && `> ${s.exclusiveMinimum}`,
    s.maximum !== undefined && `≤ ${s.maximum}`,
    s.exclusiveMaximum !== undefined && `< ${s.exclusiveMaximum}`,
    s.minLength !== undefined && `at least ${s.minLength} characters`,
    s.minItems !== undefined && `at least ${s.minItems} items`,
  ].filter(Boolean);
  const of = type === "array" && s.items ? ` of ${typeText(s.items)}` : "";
  return `${type}${of}${limits.length ? ` ${limits.join(", ")}` : ""}`;
}

function ConfigFields({ schema }: { schema: JsonSchema }) {
  const fields = Object.entries(schema.properties ?? {});
  if (!fields.length) return <p className="muted">No settings.</p>;
  const required = new Set(schema.required ?? []);
  return (
    <table className="help-table" data-testid="help-config">
      <tbody>
        {fields.map(([name, field]) => (
          <tr key={name} data-testid={`help-field-${name}`}>
            <td className="mono">
              {name}
              {required.has(name) && field.default === undefined && <span className="required" title="required"> *</span>}
            </td>
            <td>
              <div className="mono help-type">{typeText(field)}</div>
              {field.default !== undefined && <div className="muted">default {JSON.stringify(field.default)}</div>}
              {field.description && <div>{field.description}</div>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Ports({ title, ports }: { title: string; ports: Record<string, PortJson> }) {
  const list = Object.entries(ports);
  return (
    <div className="help-ports">
      <h5>{title}</h5>
      {list.length ? (
        list.map(([name, t]) => (
          <div key={name} className="mono" data-testid={`help-port-${title}-${name}`}>
            {name}: <span className="muted">{t.label}</span>
          </div>
        ))
      ) : (
        <div className="muted">none</div>
      )}
    </div>
  );
}

export function NodeHelp({ info, onClose }: { info: NodeTypeInfo; onClose?(): void }) {
  const example = info.example;
  const node = { id: info.type.split(".").at(-1), type: info.type, config: example?.config ?? info.defaults ?? {} };
  const locked = lockReason(info);
  return (
    <article className="node-help" data-testid="node-help" style={{ borderTopColor: nodeColor(info) }}>
      <header>
        <NodeIcon info={info} />
        <div className="grow">
          <h3 data-testid="help-title">{info.title}</h3>
          <div className="mono muted">
            {info.type} · {info.category}
            {info.package && <> · {info.package}</>}
          </div>
        </div>
        {onClose && (
          <button type="button" className="link" onClick={onClose} aria-label="close help" data-testid="help-close">
            ✕
          </button>
        )}
      </header>
      <p data-testid="help-description">{info.description}</p>
      {info.capabilities.length > 0 && (
        <p className={locked ? "field-problem" : "muted"}>Needs {info.capabilities.join(", ")}{locked ? ` — ${locked}` : " (granted here)"}.</p>
      )}
      <h4>Ports{info.portsDependOnConfig ? " (with the default settings; they change with the config)" : ""}</h4>
      <div className="help-port-columns">
        <Ports title="inputs" ports={info.inputs} />
        <Ports title="outputs" ports={info.outputs} />
      </div>
      <h4>Settings</h4>
      <ConfigFields schema={info.config} />
      <h4>Example</h4>
      <pre className="help-example" data-testid="help-example">{JSON.stringify(node, null, 2)}</pre>
      {example?.input !== undefined && (
        <>
          <div className="muted">a message payload in</div>
          <pre className="help-example">{JSON.stringify(example.input)}</pre>
          <div className="muted">comes out as</div>
          <pre className="help-example" data-testid="help-example-output">{JSON.stringify(example.output)}</pre>
        </>
      )}
    </article>
  );
}
