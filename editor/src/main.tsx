/** Entry: reads the access token, loads the node types, and routes by the URL hash. */
import "@xyflow/react/dist/style.css";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { adoptTokenFromUrl, api, type NodeTypeInfo } from "./api";
import { Dashboard, ServicePicker } from "./Dashboard";
import { DriftEvalPage } from "./DriftEvalPage";
import { LabelingPage } from "./LabelingPage";
import { ModelCardPage } from "./ModelCardPage";
import { Editor } from "./Editor";
import { PaletteManager } from "./PaletteManager";

function useHashRoute(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return hash.replace(/^#\/?/, "");
}

function App() {
  const route = useHashRoute().split("/").map(decodeURIComponent);
  const [types, setTypes] = useState<NodeTypeInfo[]>();
  const [error, setError] = useState<string>();
  // Loaded again on each page change: the palette manager may have installed or removed types.
  useEffect(() => {
    api.nodes().then(setTypes, (err: Error) => setError(err.message));
  }, [route[0]]);

  if (route[0] === "services" && route[1]) return <Dashboard service={route[1]} />;
  if (route[0] === "services") return <ServicePicker />;
  if (route[0] === "packages") return <PaletteManager />;
  if (route[0] === "drift") return <DriftEvalPage />;
  if (route[0] === "labels" && route[1]) return <LabelingPage queue={route[1]} />;
  if (route[0] === "models" && route[1] && route[2]) return <ModelCardPage model={route[1]} version={route[2]} />;
  if (error) return <div className="page-error">Cannot reach the Evoflow runtime: {error}</div>;
  if (!types) return <div className="page-loading">Loading node types…</div>;
  return <Editor types={types} open={route[0] === "pipelines" ? route[1] : undefined} />;
}

adoptTokenFromUrl();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
