// npuhub in JupyterLab: the "npuhub" sidebar, the NPU status-bar item and
// "Run as batch job…" in the file browser's context menu.
import {
  ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { setLanguage } from './api';
import { field, h } from './dom';
import { NPUHubPanel, submitJob } from './panel';
import { NPUStatus } from './status';

const DOMAIN = 'npuhub_labextension';
const RUN = 'npuhub:run-as-job';

function jobForm(trans: any, path: string): Widget {
  const w = new Widget();
  w.node.append(
    h('p', {}, trans.__('Run %1 in the batch queue', path)),
    field(trans.__('NPUs'), h('input', { name: 'npus', type: 'number', min: '0', value: '0' })),
    field(trans.__('Time limit'), h('input', { name: 'time_limit', placeholder: '1:30:00 · 2h · 45m' })),
    field(trans.__('Parameters'), h('textarea', { name: 'parameters', rows: '2',
      placeholder: 'lr=0.01\nepochs=3' }))
  );
  return w;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'npuhub-labextension:plugin',
  description: 'npuhub: datasets, batch jobs, courses and the NPU budget',
  autoStart: true,
  requires: [ILabShell],
  optional: [ITranslator, IStatusBar, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd, shell: ILabShell, translator: ITranslator | null,
    statusBar: IStatusBar | null, browser: IDefaultFileBrowser | null
  ) => {
    const trans = (translator || nullTranslator).load(DOMAIN);
    const currentPath = () => {
      const w: any = shell.currentWidget;
      const path: string | undefined = w && w.context && w.context.path;
      return path && /\.(ipynb|py)$/.test(path) ? path : null;
    };
    // what is on screen is what runs: the open document is saved first
    const lang = ((translator && translator.languageCode) || 'en').replace('_', '-');
    setLanguage(lang);  // the service's messages and refusals in the Lab's language
    const panel = new NPUHubPanel({ app, trans, lang, currentPath: async () => {
      const w: any = shell.currentWidget;
      if (w && w.context && w.context.model && w.context.model.dirty) {
        await w.context.save();
      }
      return currentPath();
    } });
    panel.title.label = trans.__('npuhub');
    shell.add(panel, 'left', { rank: 600 });

    if (statusBar) {
      statusBar.registerStatusItem('npuhub-labextension:npu', {
        item: new NPUStatus(trans), align: 'left', rank: 10
      });
    }

    app.commands.addCommand(RUN, {
      label: trans.__('Run as batch job…'),
      isVisible: () => {
        const item = browser ? browser.selectedItems().next() : undefined;
        return !!item && !item.done && /\.(ipynb|py)$/.test(item.value.path);
      },
      execute: async () => {
        const item = browser ? browser.selectedItems().next() : undefined;
        if (!item || item.done) {
          return;
        }
        const path = item.value.path;
        const body = jobForm(trans, path);
        const result = await showDialog({
          title: trans.__('Run as batch job'),
          body,
          buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }),
            Dialog.okButton({ label: trans.__('Submit') })]
        });
        if (!result.button.accept) {
          return;
        }
        const value = (n: string) =>
          (body.node.querySelector(`[name=${n}]`) as HTMLInputElement).value;
        try {
          const job = await submitJob(path, value('npus'), value('time_limit'), value('parameters'));
          Notification.success(trans.__('Job %1 queued', job.id), { autoClose: 4000 });
          void panel.refreshJobs();
        } catch (e) {
          Notification.error(String((e as Error).message || e), { autoClose: 8000 });
        }
      }
    });
    app.contextMenu.addItem({
      command: RUN,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 3
    });
  }
};

export default plugin;
