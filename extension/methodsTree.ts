/** The Methods view: the methods grouped by family, each with its paper, venue, year and defaults. */
import * as vscode from 'vscode';
import type { MethodFamily, MethodInfo } from '../trainer/methods/types';

const FAMILY_ORDER: MethodFamily[] = [
  'memory bank',
  'end-to-end',
  'momentum / queue',
  'clustering',
  'no negatives',
  'transformers',
  'multimodal',
];

type Node =
  | { kind: 'family'; family: MethodFamily; methods: MethodInfo[] }
  | { kind: 'method'; method: MethodInfo };

export class MethodsTree implements vscode.TreeDataProvider<Node> {
  private methods: MethodInfo[] = [];
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;

  setMethods(methods: MethodInfo[]): void {
    this.methods = methods;
    this.emitter.fire(undefined);
  }

  all(): MethodInfo[] {
    return this.methods;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return FAMILY_ORDER.map((family) => ({
        kind: 'family' as const,
        family,
        methods: this.methods.filter((m) => m.family === family),
      })).filter((f) => f.methods.length > 0);
    }
    if (node.kind === 'family') return node.methods.map((method) => ({ kind: 'method' as const, method }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'family') {
      const item = new vscode.TreeItem(capitalize(node.family), vscode.TreeItemCollapsibleState.Expanded);
      item.contextValue = 'family';
      item.id = `family:${node.family}`;
      return item;
    }
    const m = node.method;
    const item = new vscode.TreeItem(m.name, vscode.TreeItemCollapsibleState.None);
    item.id = `method:${m.id}`;
    item.description = `${m.venue} ${m.year}`;
    item.contextValue = 'method';
    item.iconPath = new vscode.ThemeIcon('beaker');
    item.tooltip = methodTooltip(m);
    item.command = {
      command: 'contrastiveLab.openMethod',
      title: 'Open Method Description',
      arguments: [m.id],
    };
    return item;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function methodTooltip(m: MethodInfo): vscode.MarkdownString {
  const p = m.presets.laptop;
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${m.name}** — ${m.paper}\n\n${m.authors}, ${m.venue} ${m.year}\n\n${m.keyIdea}\n\n`);
  md.appendMarkdown(`*Positives:* ${m.positives}  \n*Negatives:* ${m.negatives}\n\n`);
  md.appendMarkdown(
    `*Laptop preset:* ${p.encoder?.arch ?? ''} width ${p.encoder?.width ?? ''}, batch ${p.training?.batchSize ?? ''}, ${p.training?.epochs ?? ''} epochs, ${p.optimizer?.kind ?? ''} lr ${p.optimizer?.lr ?? ''}`,
  );
  return md;
}

/** Markdown description of a method, opened as a preview. */
export function methodMarkdown(m: MethodInfo): string {
  const preset = (name: 'paper' | 'laptop') =>
    `\`\`\`json\n${JSON.stringify(m.presets[name], null, 2)}\n\`\`\``;
  return [
    `# ${m.name}`,
    `**${m.paper}** — ${m.authors}, ${m.venue} ${m.year}. Family: ${m.family}.`,
    `## Key idea\n${m.keyIdea}`,
    `- **Positives:** ${m.positives}\n- **Negatives:** ${m.negatives}`,
    `## Paper preset\n${preset('paper')}`,
    `## Laptop preset\n${m.laptopScaling}\n\n${preset('laptop')}`,
  ].join('\n\n');
}
