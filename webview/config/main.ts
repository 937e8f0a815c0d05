/**
 * The config form. It draws `formModel` with @vscode-elements and turns user input into `edit`
 * messages; it never changes the config itself. The DOM is built once (the schema is fixed) and
 * each `state` only updates values, badges and messages in place, so the focused input keeps its
 * caret and the open/closed groups stay as the user left them.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-form-helper/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeCollapsible } from '@vscode-elements/elements/dist/vscode-collapsible/vscode-collapsible.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import schema from '../../trainer/config/schema.json';
import type { ConfigStateMessage, ConfigWebviewMessage } from '../contract';
import {
  buildFormModel,
  coerceInput,
  type FormField,
  type FormGroup,
  type FormModel,
  formatValue,
  mapIssues,
  rangeText,
} from './formModel';

interface VsCodeApi {
  postMessage(message: ConfigWebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const send = (m: ConfigWebviewMessage) => vscode.postMessage(m);

/** Survives the webview being discarded while hidden: which groups the user opened or closed. */
interface ViewState {
  open: Record<string, boolean>;
}
const viewState: ViewState = { open: {}, ...((vscode.getState() as Partial<ViewState> | undefined) ?? {}) };

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** Element ids without dots: vscode-label finds its input with a `#id` selector. */
const domId = (field: FormField) => `f-${field.id.replace(/[^\w-]/g, '_')}`;

/** The host element keeps focus while its shadow input has it, so this sees custom elements too. */
const hasFocus = (el: Element) => el === document.activeElement || el.matches(':focus-within');

// ---- one field ----

class FieldView {
  readonly row: HTMLElement;
  private readonly control: VscodeTextfield | VscodeSingleSelect | VscodeCheckbox;
  private readonly badge: HTMLElement;
  private readonly messages: HTMLElement;
  private field: FormField;
  /** Why the last typed text was not sent; kept until a valid entry or a change of the value. */
  private inputError: string | null = null;
  private schemaIssues: string[] = [];
  private messagesKey = '';
  private shownValue: string | undefined;

  constructor(
    field: FormField,
    private readonly onLocalErrorChange: () => void,
  ) {
    this.field = field;
    this.control = this.makeControl();
    this.badge = h(
      'span',
      { class: 'default-badge', title: 'Not in the file: the trainer uses this default. Edit to write it.' },
      'default',
    );
    const label =
      field.kind === 'boolean'
        ? h('span', { class: 'label-text' }, field.label)
        : h('vscode-label', { for: domId(field) }, field.label);
    const range = rangeText(field);
    this.messages = h('div', {
      class: 'messages',
      'data-testid': `issue-${field.id}`,
      role: 'alert',
      hidden: true,
    });
    this.row = h(
      'div',
      { class: 'field', 'data-field': field.id },
      h('div', { class: 'field-label' }, label, this.badge),
      h(
        'div',
        { class: 'field-input' },
        this.control,
        field.unit ? h('span', { class: 'unit' }, field.unit) : '',
        range ? h('span', { class: 'range', title: 'Allowed range' }, range) : '',
      ),
      this.messages,
      field.description ? h('vscode-form-helper', {}, h('p', {}, field.description)) : '',
    );
  }

  get hasInputError() {
    return this.inputError !== null;
  }

  get element() {
    return this.control;
  }

  private makeControl() {
    const f = this.field;
    const common = { id: domId(f), 'data-testid': `field-${f.id}` };
    if (f.kind === 'boolean') {
      const cb = h('vscode-checkbox', { ...common, label: f.label });
      cb.addEventListener('change', () => this.commit(cb.checked ? 'true' : 'false'));
      return cb;
    }
    if (f.kind === 'enum') {
      const sel = h('vscode-single-select', common);
      sel.addEventListener('change', () => this.commit(sel.value));
      return sel;
    }
    const tf = h('vscode-textfield', common);
    if (f.kind === 'number-pair') tf.placeholder = 'low, high';
    if (f.kind === 'int-array') tf.placeholder = 'e.g. 512, 512 (empty: no hidden layer)';
    // Commit on change (Enter or leaving the field), not per keystroke: "1e" on the way to "1e-3"
    // is not an error, and one entry should be one undo step.
    tf.addEventListener('change', () => this.commit(tf.value));
    tf.addEventListener('input', () => {
      if (this.inputError !== null) this.setInputError(null);
    });
    return tf;
  }

  private commit(text: string) {
    const r = coerceInput(this.field, text);
    if (!r.ok) return this.setInputError(r.error);
    this.setInputError(null);
    if ('remove' in r) send({ type: 'remove', path: this.field.path });
    else send({ type: 'edit', path: this.field.path, value: r.value });
  }

  private setInputError(error: string | null) {
    if (error === this.inputError) return;
    this.inputError = error;
    this.onLocalErrorChange();
    this.renderMessages();
  }

  private renderMessages() {
    const lines = [...(this.inputError ? [this.inputError] : []), ...this.schemaIssues];
    // Untouched when unchanged: the container is role=alert, and a rewrite is announced again.
    const key = JSON.stringify([this.inputError, this.schemaIssues]);
    if (key === this.messagesKey) return;
    this.messagesKey = key;
    this.messages.replaceChildren(
      ...lines.map((m, i) =>
        h('div', { class: i === 0 && this.inputError ? 'message input-error' : 'message' }, m),
      ),
    );
    this.messages.hidden = lines.length === 0;
    const invalid = lines.length > 0;
    if ('invalid' in this.control) this.control.invalid = invalid;
    this.row.classList.toggle('has-issue', invalid);
  }

  update(field: FormField, issues: string[]) {
    const valueChanged = this.shownValue !== undefined && !same(field.value, this.field.value);
    this.field = field;
    // The document's value moved on (undo, a text edit): what the user mistyped is moot now.
    if (valueChanged && this.inputError !== null) this.setInputError(null);
    this.badge.hidden = field.source !== 'default';
    this.schemaIssues = issues;
    this.renderMessages();
    this.showValue();
  }

  private showValue() {
    const f = this.field;
    const text = formatValue(f, f.value);
    this.shownValue = text;
    const c = this.control;
    if (f.kind === 'boolean') {
      (c as VscodeCheckbox).checked = f.value === true;
      return;
    }
    if (f.kind === 'enum') {
      const sel = c as VscodeSingleSelect;
      // A value the schema does not allow still shows (marked), so the user sees what is there.
      const options = [...f.options];
      if (typeof f.value === 'string' && !options.includes(f.value)) options.push(f.value);
      const have = [...sel.querySelectorAll('vscode-option')].map((o) => o.value);
      if (!same(have, options)) {
        sel.replaceChildren(
          ...options.map((o) =>
            h('vscode-option', { value: o, description: f.options.includes(o) ? '' : 'not allowed' }, o),
          ),
        );
      }
      if (sel.value !== text) sel.value = text;
      return;
    }
    const tf = c as VscodeTextfield;
    // Leave alone what the user is typing when it already means the document's value (the echo
    // of their own edit) or is a rejected entry they are fixing; rewriting it would move the caret.
    if (this.inputError !== null) return;
    // While the user is typing in this field, the document only echoes their own edits (or an
    // older value): never replace the text under their caret.
    if (hasFocus(tf)) return;
    if (tf.value !== text) tf.value = text;
  }
}

// ---- the page ----

class ConfigForm {
  private readonly views = new Map<string, FieldView>();
  private readonly groupEls = new Map<
    string,
    { el: VscodeCollapsible; count: HTMLElement; fields: string[] }
  >();
  private readonly title = h('h1', { 'data-testid': 'run-name' });
  private readonly methodLine = h('span', { class: 'method' });
  private readonly status = h('button', { class: 'status', type: 'button', 'data-testid': 'issue-count' });
  private readonly start = h('vscode-button', { 'data-testid': 'start-button' }, 'Start');
  private readonly banner = h(
    'div',
    { class: 'banner', role: 'status', 'data-testid': 'running-banner', hidden: true },
    'This run is training; edits apply to the next resume.',
  );
  private readonly parseBox = h('section', {
    class: 'parse-error',
    'data-testid': 'parse-error',
    hidden: true,
  });
  private readonly summary = h('ul', { class: 'summary', 'data-testid': 'issues-summary', hidden: true });
  private readonly keyIdea = h('p', { class: 'key-idea', hidden: true });
  private readonly groupsEl = h('main', { class: 'groups' });
  private state: ConfigStateMessage | null = null;
  private model: FormModel | null = null;

  constructor(root: HTMLElement) {
    const openText = h(
      'vscode-button',
      {
        secondary: true,
        'data-testid': 'open-text-button',
        title: 'Open config.json in the text editor beside',
      },
      'Edit JSON',
    );
    openText.addEventListener('click', () => send({ type: 'openText', beside: true }));
    this.start.addEventListener('click', () => {
      if (!this.start.disabled) send({ type: 'start' });
    });
    this.status.addEventListener('click', () => this.revealFirstIssue());
    root.replaceChildren(
      h(
        'header',
        { class: 'topbar' },
        h('div', { class: 'title' }, this.title, this.methodLine),
        this.status,
        h('div', { class: 'actions' }, openText, this.start),
      ),
      this.banner,
      this.parseBox,
      this.summary,
      this.groupsEl,
    );
  }

  private build(model: FormModel) {
    this.groupsEl.replaceChildren(...model.groups.map((g) => this.buildGroup(g)));
  }

  private buildGroup(group: FormGroup): HTMLElement {
    const el = h('vscode-collapsible', { heading: group.title, 'data-testid': `group-${group.id}` });
    el.open = viewState.open[group.id] ?? true;
    el.addEventListener('vsc-collapsible-toggle', () => {
      viewState.open[group.id] = el.open;
      vscode.setState(viewState);
    });
    const count = h('span', { slot: 'decorations', class: 'group-count', hidden: true });
    el.append(count);
    const body = h('div', { class: 'group-body' });
    if (group.id === 'method') body.append(this.keyIdea);
    let subgroup: string | null = null;
    for (const f of group.fields) {
      if (f.subgroup !== subgroup) {
        subgroup = f.subgroup;
        if (subgroup) body.append(h('h3', { class: 'subgroup' }, subgroup));
      }
      const view = new FieldView(f, () => this.updateStart());
      this.views.set(f.id, view);
      body.append(view.row);
    }
    el.append(body);
    this.groupEls.set(group.id, { el, count, fields: group.fields.map((f) => f.id) });
    return el;
  }

  render(state: ConfigStateMessage) {
    this.state = state;
    const model = buildFormModel(schema, state.config, state.defaults, state.method?.paramKeys);
    if (!this.model) this.build(model);
    this.model = model;

    this.title.textContent = state.runName || 'Run configuration';
    const m = state.method;
    const methodId = typeof state.config?.method === 'string' ? state.config.method : '';
    this.methodLine.textContent = m ? `${m.name} · ${m.paper} (${m.year})` : methodId;
    this.keyIdea.textContent = m?.keyIdea ?? '';
    this.keyIdea.hidden = !m?.keyIdea;
    this.banner.hidden = !state.running;

    this.parseBox.hidden = state.parseError === null;
    this.groupsEl.hidden = state.parseError !== null;
    if (state.parseError !== null) {
      const open = h('vscode-button', { 'data-testid': 'open-as-text-button' }, 'Open as text');
      open.addEventListener('click', () => send({ type: 'openText', beside: false }));
      this.parseBox.replaceChildren(
        h('h2', {}, 'This file is not valid JSON, so the form cannot show it'),
        h('p', { class: 'parse-message' }, state.parseError),
        open,
      );
    }

    const { byField, general } = mapIssues(model, state.issues, state.config);
    for (const f of model.fields) this.views.get(f.id)?.update(f, byField.get(f.id) ?? []);
    for (const { el, count, fields } of this.groupEls.values()) {
      const n = fields.reduce((s, id) => s + (byField.get(id)?.length ?? 0), 0);
      count.textContent = String(n);
      count.title = `${n} problem${n === 1 ? '' : 's'} in this group`;
      count.hidden = n === 0;
      el.classList.toggle('has-issue', n > 0);
    }
    this.summary.hidden = general.length === 0;
    this.summary.replaceChildren(
      ...general.map((i) => {
        const li = h('li', {}, h('code', {}, i.path || '(file)'), ` ${i.message}`);
        if (i.removable) {
          const rm = h('vscode-button', { secondary: true, 'data-testid': `remove-${i.path}` }, 'Remove');
          rm.addEventListener('click', () => send({ type: 'remove', path: i.path.split('.') }));
          li.append(' ', rm);
        }
        return li;
      }),
    );
    this.updateStart();
  }

  /** Start needs a document the trainer accepts and no rejected entry waiting in the form. */
  private updateStart() {
    const s = this.state;
    if (!s) return;
    const typed = [...this.views.values()].filter((v) => v.hasInputError).length;
    const n = s.issues.length;
    let why = '';
    if (s.parseError !== null) why = 'Fix the JSON first.';
    else if (n > 0) why = `Fix ${n} problem${n === 1 ? '' : 's'} first.`;
    else if (typed > 0)
      why = `${typed} field${typed === 1 ? ' has an entry' : 's have entries'} that could not be used.`;
    else if (s.running) why = 'This run is already training.';
    this.start.disabled = why !== '';
    this.start.title = why || 'Save and start training with this configuration';
    const problems = s.parseError !== null ? 1 : n + typed;
    this.status.textContent = problems === 0 ? '✓ Valid' : `${problems} problem${problems === 1 ? '' : 's'}`;
    this.status.classList.toggle('bad', problems > 0);
    this.status.disabled = problems === 0;
    this.status.title = problems ? 'Show the first problem' : 'The trainer accepts this configuration';
  }

  private revealFirstIssue() {
    if (!this.parseBox.hidden) return this.parseBox.scrollIntoView({ block: 'center' });
    const row = this.groupsEl.querySelector<HTMLElement>('.field.has-issue') ?? this.summary;
    const group = row.closest('vscode-collapsible') as VscodeCollapsible | null;
    if (group && !group.open) group.open = true;
    row.scrollIntoView({ block: 'center' });
    const id = row.dataset.field;
    if (id) this.views.get(id)?.element.focus();
  }
}

const form = new ConfigForm(document.getElementById('app')!);
window.addEventListener('message', (e: MessageEvent<ConfigStateMessage>) => {
  if (e.data?.type === 'state') form.render(e.data);
});
send({ type: 'ready' });
