// oidc-provider ships no type declarations; the tests use it as a real upstream OpenID provider.
declare module 'oidc-provider' {
  const Provider: new (
    issuer: string,
    configuration: Record<string, unknown>,
  ) => {
    callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  };
  export default Provider;
}
