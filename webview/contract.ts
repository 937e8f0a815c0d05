/**
 * The extension <-> webview message contract: the one file both sides import. Each webview's
 * messages live beside it (`charts/messages.ts`, `config/messages.ts`) and are re-exported here.
 * Webview code must never import `vscode` or Node modules.
 */
export * from './charts/messages';
export * from './checkpoint/messages';
export * from './config/messages';
export * from './embeddings/messages';
