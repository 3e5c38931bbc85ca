// "What this session runs on": the record the platform kept when this server started
// (GET …/me/session: image reference and digest, node and NPUs, driver and CANN versions,
// datasets with their versions), so a result can be traced to what produced it.
import { PageConfig } from '@jupyterlab/coreutils';
import { showDialog, Dialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api } from './api';
import { h } from './dom';

function row(label: string, value: string): HTMLElement {
  return h('tr', {}, h('th', {}, label), h('td', {}, value || '—'));
}

export function recordTable(r: any, t: TranslationBundle): HTMLElement {
  const image = r.image || {};
  const devices = (r.devices || []).map((d: any) => `${d.node}:${d.index}`).join(', ');
  const version = (v: any) => (v && v.version) || '';
  const datasets = (r.datasets || []).map((d: any) =>
    d.version ? `${d.name} (${d.version})` : d.name).join(', ');
  return h('table', { class: 'npuhub-table npuhub-session-record' }, h('tbody', {},
    row(t.__('Image'), image.reference || ''),
    row(t.__('Image digest'), image.digest || ''),
    row(t.__('Node'), Array.isArray(r.node) ? r.node.join(', ') : (r.node || '')),
    row(t.__('NPUs held (node:index)'), devices || t.__('none')),
    row(t.__('NPU driver'), version(r.npu_driver)),
    row(t.__('CANN'), version(r.cann)),
    row(t.__('Datasets'), datasets || t.__('none')),
    row(t.__('Account'), r.account || ''),
    row(t.__('Started'), r.started ? new Date(r.started).toLocaleString() : '')));
}

export async function showSessionRecord(t: TranslationBundle): Promise<void> {
  const server = PageConfig.getOption('hubServerName') || '';
  const r = await api(`me/session?server=${encodeURIComponent(server)}`);
  await showDialog({
    title: t.__('What this session runs on'),
    body: new Widget({ node: h('div', { class: 'npuhub-record' }, recordTable(r, t),
      h('p', { class: 'npuhub-meta' },
        t.__('In a notebook: from npuhub.extensions import session; session.provenance()'))) }),
    buttons: [Dialog.okButton({ label: t.__('Close') })]
  });
}
