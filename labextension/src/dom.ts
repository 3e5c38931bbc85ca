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

export function button(label: string, onClick: () => Promise<void> | void, cls = ''): HTMLElement {
  const b = h('button', { class: `jp-Button npuhub-button ${cls}`.trim(), type: 'button' }, label);
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
