/**
 * A config field whose schema says `format: "code"` (as `javascriptCode` in sdk/user-code.ts
 * does, and python.function's code), edited in CodeMirror 6 with the highlighting of its `language`. Its syntax errors come
 * from the runtime's validator like every other field's problem (SchemaForm shows them beside
 * the field): the editor compiles nothing of its own.
 */
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { Compartment } from "@codemirror/state";
import { placeholder as placeholderText } from "@codemirror/view";
import { basicSetup, EditorView } from "codemirror";
import { useEffect, useRef } from "react";

const languages: Record<string, () => ReturnType<typeof javascript>> = {
  javascript: () => javascript(),
  python: () => python(),
};

export function CodeField(props: { value: string | undefined; placeholder?: string; language?: string; testId: string; onChange(value: string | undefined): void }) {
  const { value, placeholder, language, testId, onChange } = props;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | undefined>(undefined);
  // The latest onChange, read by the editor's listener (made once, with the view).
  const changed = useRef(onChange);
  changed.current = onChange;
  const hint = useRef(new Compartment());

  useEffect(() => {
    const lang = language ? languages[language] : undefined;
    view.current = new EditorView({
      parent: host.current!,
      doc: value ?? "",
      extensions: [
        basicSetup,
        ...(lang ? [lang()] : []),
        hint.current.of(placeholderText(placeholder ?? "")),
        EditorView.updateListener.of((u) => {
          if (!u.docChanged) return;
          const text = u.state.doc.toString();
          // An emptied box goes back to the default, as every other field does.
          changed.current(text.trim() === "" ? undefined : text);
        }),
      ],
    });
    return () => view.current?.destroy();
  }, []);

  // Follow outside changes (undo, import, another node selected).
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const next = value ?? "";
    if (v.state.doc.toString() !== next) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: next } });
  }, [value]);
  useEffect(() => {
    view.current?.dispatch({ effects: hint.current.reconfigure(placeholderText(placeholder ?? "")) });
  }, [placeholder]);

  return <div className="code-field" data-testid={testId} ref={host} />;
}
