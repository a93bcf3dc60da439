// The bundler loads each `.graphql` file as its text (esbuild's `text` loader, see frontend/build/bundle.ts).
declare module '*.graphql' {
  const source: string;
  export default source;
}
