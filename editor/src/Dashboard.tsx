export function Dashboard({ service }: { service: string }) {
  return <div>{service}</div>;
}
export function ServicePicker() {
  return <div />;
}
export function ModelCardPage({ model, version }: { model: string; version: string }) {
  return <div>{model} {version}</div>;
}
