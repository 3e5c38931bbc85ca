// A few DOM helpers: the panel is plain DOM in Lumino widgets (no React needed).
export function h(
  tag: string, attrs: { [k: string]: string } = {}, ...children: (Node | string)[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, v);
  }
  for (const c of children) {
    el.append(c);
  }
  return el;
}

/** A JupyterLab-styled button (jp-Button jp-mod-styled); `primary` for the main action. */
export function button(
  label: string, onClick: () => Promise<void> | void, cls = '', primary = false
): HTMLElement {
  const kind = primary ? 'jp-mod-accept' : 'npuhub-secondary';
  const b = h('button', { class: `jp-Button jp-mod-styled ${kind} npuhub-button ${cls}`.trim(),
    type: 'button' }, label);
  b.addEventListener('click', async () => {
    b.setAttribute('disabled', '');
    try {
      await onClick();
    } finally {
      b.removeAttribute('disabled');
    }
  });
  return b;
}

export function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', { class: 'npuhub-field' }, h('span', {}, label), input);
}
