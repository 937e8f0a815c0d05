/**
 * The HTML page of every webview: one bundle from dist/webview, one stylesheet from media, and a
 * strict content security policy (nothing but our nonce'd script, our stylesheet and, where asked,
 * images from data: URIs). A fresh nonce per render: only the bundle loaded now may run.
 *
 * No 'unsafe-inline' for styles: @vscode-elements (Lit) styles its shadow roots with constructable
 * stylesheets and sets dynamic styles through the CSSOM, neither of which style-src governs
 * (checked in Chromium with this exact policy).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export interface WebviewPage {
  /** Bundle name: dist/webview/<bundle>.js */
  bundle: string;
  /** Stylesheet in media/ */
  stylesheet: string;
  title: string;
  /** Allow `data:` images (chart.js canvases exported as images, sparklines). */
  dataImages?: boolean;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, page: WebviewPage): string {
  const nonce = randomBytes(18).toString('base64');
  const script = webview.asWebviewUri(
    vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${page.bundle}.js`),
  );
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', page.stylesheet));
  const csp = [
    "default-src 'none'",
    ...(page.dataImages ? [`img-src ${webview.cspSource} data:`] : []),
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${escapeHtml(page.title)}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
