/**
 * The property form, generated from a node type's config JSON Schema (zod 4's
 * `z.toJSONSchema`): no form is written per node type. Unset fields show their
 * default as a placeholder and stay out of the file. Whether a value is valid is
 * decided by the runtime's validator (the same one deploy uses); its problems
 * arrive with a path and are shown beside the field they concern.
 */
import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import type { JsonSchema } from "./api";

// CodeMirror is loaded with the first code field: most forms have none, and it is a third of the bundle.
const CodeField = lazy(() => import("./CodeField").then((m) => ({ default: m.CodeField })));

export interface FieldProblem {
  field: string;
  message: string;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function getAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (isObject(v) || Array.isArray(v) ? (v as Obj)[k] : undefined), value);
}

/** Immutable set; `undefined` deletes the key (the field goes back to its default). */
function setAt(value: unknown, path: string[], next: unknown): unknown {
  if (path.length === 0) return next;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const copy = [...value];
    copy[Number(head)] = setAt(copy[Number(head)], rest, next);
    return copy;
  }
  const copy: Obj = isObject(value) ? { ...value } : {};
  const child = setAt(copy[head], rest, next);
  if (child === undefined) delete copy[head];
  else copy[head] = child;
  return copy;
}

function typeOf(s: JsonSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  return s.type;
}

/** A oneOf/anyOf whose options are objects told apart by one `const` property (zod discriminated unions). */
function discriminator(options: JsonSchema[]): string | undefined {
  const first = options[0]?.properties;
  if (!first) return undefined;
  return Object.keys(first).find((k) =>
    options.every((o) => o.properties?.[k] && (o.properties[k].const !== undefined || o.properties[k].enum !== undefined)),
  );
}

function constValues(s: JsonSchema): unknown[] {
  return s.const !== undefined ? [s.const] : (s.enum ?? []);
}

function describeConstraint(s: JsonSchema): string | undefined {
  const parts: string[] = [];
  // zod writes ±MAX_SAFE_INTEGER as the bounds of every int: no news to the user.
  if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length ? parts.join(", ") : undefined;
}

interface FieldProps {
  name: string;
  path: string[];
  schema: JsonSchema;
  value: unknown;
  defaultValue: unknown;
  required: boolean;
  problems: FieldProblem[];
  onChange(path: string[], next: unknown): void;
}

function Problems({ problems, path }: { problems: FieldProblem[]; path: string[] }) {
  const key = path.join(".");
  const mine = problems.filter((p) => p.field === key);
  if (!mine.length) return null;
  return (
    <>
      {mine.map((p, i) => (
        <div key={i} className="field-problem" role="alert">
          {p.message}
        </div>
      ))}
    </>
  );
}

/** Text that parses into a value on each keystroke; what does not parse stays in the box with a message. */
function ParsedInput(props: {
  value: unknown;
  placeholder?: string;
  multiline?: boolean;
  parse(text: string): { ok: true; value: unknown } | { ok: false; message: string };
  format(value: unknown): string;
  onChange(value: unknown): void;
  testId: string;
}) {
  const { value, parse, format, onChange, multiline, placeholder, testId } = props;
  const [text, setText] = useState(() => (value === undefined ? "" : format(value)));
  const [error, setError] = useState<string>();
  // Follow outside changes (undo, import, another node) unless the box holds text that does not parse.
  useEffect(() => {
    if (!error) setText(value === undefined ? "" : format(value));
  }, [value]);
  const handle = (t: string) => {
    setText(t);
    if (t.trim() === "") {
      setError(undefined);
      onChange(undefined);
      return;
    }
    const r = parse(t);
    if (r.ok) {
      setError(undefined);
      onChange(r.value);
    } else setError(r.message);
  };
  const common = { value: text, placeholder, "data-testid": testId, className: error ? "invalid" : undefined };
  return (
    <>
      {multiline ? (
        <textarea {...common} rows={Math.min(8, Math.max(2, text.split("\n").length))} onChange={(e) => handle(e.target.value)} />
      ) : (
        <input {...common} onChange={(e) => handle(e.target.value)} />
      )}
      {error && <div className="field-problem">{error}</div>}
    </>
  );
}

const jsonText = (v: unknown) => JSON.stringify(v, null, 2);
const parseJson = (t: string) => {
  try {
    return { ok: true as const, value: JSON.parse(t) as unknown };
  } catch (err) {
    return { ok: false as const, message: `not JSON: ${(err as Error).message}` };
  }
};

function Field(props: FieldProps) {
  const { name, path, schema, value, defaultValue, required, problems, onChange } = props;
  const key = path.join(".");
  const testId = `field-${key}`;
  const options = schema.oneOf ?? schema.anyOf;
  const label = (
    <label className="field-label" title={schema.description}>
      {name}
      {required && <span className="required">*</span>}
      {describeConstraint(schema) && <span className="constraint">{describeConstraint(schema)}</span>}
    </label>
  );
  const help = schema.description && <div className="field-help">{schema.description}</div>;
  const placeholder = defaultValue === undefined ? undefined : typeof defaultValue === "string" ? defaultValue : JSON.stringify(defaultValue);
  const reset = value !== undefined && !required && (
    <button type="button" className="link" title="back to the default" onClick={() => onChange(path, undefined)}>
      reset
    </button>
  );
  // Every field is one of two shells around its control: a row, or a fieldset of sub-fields.
  const row = (className: string, head: ReactNode, control: ReactNode) => (
    <div className={className} data-field={key}>
      {head}
      {control}
      {help}
      <Problems problems={problems} path={path} />
    </div>
  );
  const group = (className: string, content: ReactNode) => (
    <fieldset className={className} data-field={key}>
      <legend>
        {label} {reset}
      </legend>
      {help}
      {content}
      <Problems problems={problems} path={path} />
    </fieldset>
  );

  // Nullable (`T | null`) unions read as T.
  if (options) {
    const nonNull = options.filter((o) => o.type !== "null");
    if (nonNull.length === 1) return <Field {...props} schema={{ ...nonNull[0], description: schema.description ?? nonNull[0].description, default: schema.default }} />;
    const tag = discriminator(nonNull);
    if (tag) {
      const current = isObject(value) ? value : isObject(defaultValue) ? defaultValue : undefined;
      const chosen = nonNull.find((o) => constValues(o.properties![tag]).includes(current?.[tag])) ?? undefined;
      const choices = nonNull.flatMap((o) => constValues(o.properties![tag]));
      return group(
        "field field-union",
        <>
          <select
            data-testid={`${testId}.${tag}`}
            value={String(current?.[tag] ?? "")}
            onChange={(e) => onChange(path, { [tag]: choices.find((c) => String(c) === e.target.value) })}
          >
            {choices.map((c) => (
              <option key={String(c)} value={String(c)}>
                {String(c)}
              </option>
            ))}
          </select>
          {chosen && (
            <ObjectFields
              schema={{ ...chosen, properties: Object.fromEntries(Object.entries(chosen.properties ?? {}).filter(([k]) => k !== tag)) }}
              path={path}
              value={value}
              defaults={isObject(value) ? undefined : defaultValue}
              problems={problems}
              onChange={onChange}
            />
          )}
        </>,
      );
    }
  }

  const type = typeOf(schema);
  if (schema.enum || schema.const !== undefined) {
    const choices = constValues(schema);
    return row(
      "field",
      label,
      <select
        data-testid={testId}
        value={value === undefined ? "" : String(value)}
        onChange={(e) => onChange(path, e.target.value === "" ? undefined : choices.find((c) => String(c) === e.target.value))}
      >
        <option value="">{defaultValue !== undefined ? `default (${String(defaultValue)})` : "—"}</option>
        {choices.map((c) => (
          <option key={String(c)} value={String(c)}>
            {String(c)}
          </option>
        ))}
      </select>,
    );
  }
  if (type === "boolean") {
    const checkbox = <input type="checkbox" data-testid={testId} checked={Boolean(value ?? defaultValue)} onChange={(e) => onChange(path, e.target.checked)} />;
    return row(
      "field field-inline",
      <>
        {checkbox}
        {label} {reset}
      </>,
      null,
    );
  }
  // Numbers and strings are typed as text; `parse` says what the text means.
  const textField = (parse: (text: string) => { ok: true; value: unknown } | { ok: false; message: string }, multiline = false) =>
    row(
      "field",
      label,
      <ParsedInput testId={testId} value={value} placeholder={placeholder} multiline={multiline} format={(v) => String(v)} parse={parse} onChange={(v) => onChange(path, v)} />,
    );
  if (type === "number" || type === "integer")
    return textField((t) => (Number.isFinite(Number(t)) ? { ok: true, value: Number(t) } : { ok: false, message: `"${t}" is not a number` }));
  if (type === "string" && schema.format === "code")
    return row(
      "field",
      <>
        {label} {reset}
      </>,
      <Suspense fallback={<div className="code-field">loading the code editor…</div>}>
        <CodeField testId={testId} value={typeof value === "string" ? value : undefined} placeholder={placeholder} language={schema.language} onChange={(v) => onChange(path, v)} />
      </Suspense>,
    );
  if (type === "string") return textField((t) => ({ ok: true, value: t }), schema.pattern === undefined);
  if (type === "object" && schema.properties && !schema.additionalProperties) {
    return group("field", <ObjectFields schema={schema} path={path} value={value} defaults={defaultValue} problems={problems} onChange={onChange} />);
  }
  if (type === "array" && schema.items) {
    const items = Array.isArray(value) ? value : Array.isArray(defaultValue) ? defaultValue : [];
    const itemType = typeOf(schema.items);
    const blank = itemType === "object" ? {} : itemType === "string" ? "" : itemType === "number" || itemType === "integer" ? 0 : null;
    return group(
      "field field-array",
      <>
        {items.map((item, i) => (
          <div key={i} className="array-item">
            <Field
              name={`${name}[${i}]`}
              path={[...path, String(i)]}
              schema={schema.items!}
              value={item}
              defaultValue={undefined}
              required={false}
              problems={problems}
              onChange={(p, next) => {
                const base = Array.isArray(value) ? value : items;
                onChange(path, setAt(base, p.slice(path.length), next));
              }}
            />
            <button type="button" className="link" onClick={() => onChange(path, items.filter((_, j) => j !== i))}>
              remove
            </button>
          </div>
        ))}
        <button type="button" data-testid={`${testId}-add`} onClick={() => onChange(path, [...items, blank])}>
          + add
        </button>
      </>,
    );
  }
  // Records, free-form objects and anything else: edited as JSON.
  return row(
    "field",
    <>
      {label} {reset}
    </>,
    <ParsedInput testId={testId} value={value} placeholder={placeholder} multiline format={jsonText} parse={parseJson} onChange={(v) => onChange(path, v)} />,
  );
}

function ObjectFields(props: { schema: JsonSchema; path: string[]; value: unknown; defaults: unknown; problems: FieldProblem[]; onChange(path: string[], next: unknown): void }) {
  const { schema, path, value, defaults, problems, onChange } = props;
  return (
    <>
      {Object.entries(schema.properties ?? {}).map(([name, child]) => (
        <Field
          key={name}
          name={name}
          path={[...path, name]}
          schema={child}
          value={getAt(value, [name])}
          defaultValue={getAt(defaults, [name]) ?? child.default}
          required={(schema.required ?? []).includes(name) && child.default === undefined}
          problems={problems}
          onChange={onChange}
        />
      ))}
    </>
  );
}

export function SchemaForm(props: {
  schema: JsonSchema;
  value: Record<string, unknown> | undefined;
  defaults: Record<string, unknown> | null;
  problems: FieldProblem[];
  onChange(next: Record<string, unknown> | undefined): void;
}) {
  const { schema, value, defaults, problems, onChange } = props;
  const known = new Set(Object.keys(schema.properties ?? {}));
  // Problems about the config as a whole, or about keys the form has no field for.
  const general = problems.filter((p) => p.field === "" || !known.has(p.field.split(".")[0]));
  return (
    <div className="schema-form">
      {general.map((p, i) => (
        <div key={i} className="field-problem" role="alert">
          {p.field ? `${p.field}: ` : ""}
          {p.message}
        </div>
      ))}
      {known.size === 0 && <div className="muted">This node has no settings.</div>}
      <ObjectFields
        schema={schema}
        path={[]}
        value={value}
        defaults={defaults ?? undefined}
        problems={problems}
        onChange={(path, next) => {
          const updated = setAt(value ?? {}, path, next) as Record<string, unknown>;
          onChange(Object.keys(updated).length ? updated : undefined);
        }}
      />
    </div>
  );
}
