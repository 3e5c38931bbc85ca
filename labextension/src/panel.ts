// The left sidebar "npuhub": Datasets, Jobs, Courses.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api, exists } from './api';
import { CourseSection, notifyError } from './courses';
import { button, field, h } from './dom';
import { showSessionRecord } from './sessionrecord';

const FINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export interface IPanelOptions {
  app: JupyterFrontEnd;
  trans: TranslationBundle;
  currentPath: () => Promise<string | null>;
  /** The Lab's language (BCP 47), for dates */
  lang: string;
}

const fail = notifyError;

export class NPUHubPanel extends Widget {
  constructor(private opts: IPanelOptions) {
    super();
    const { trans } = opts;
    this.id = 'npuhub-sidebar';
    this.addClass('npuhub-panel');
    this.title.caption = 'npuhub';
    this.title.label = 'npuhub';
    this.courseSection = new CourseSection(opts.app, trans, () => this.refreshCourses(),
      opts.lang);
    this.datasets = h('div', { class: 'npuhub-list npuhub-datasets' });
    this.jobs = h('div', { class: 'npuhub-list npuhub-jobs' });
    this.courses = h('div', { class: 'npuhub-list npuhub-courses' });
    this.search = h('input', { type: 'search', class: 'npuhub-search',
      placeholder: trans.__('Search datasets') }) as HTMLInputElement;
    this.search.addEventListener('input', () => this.renderDatasets());
    this.npus = h('input', { type: 'number', min: '0', value: '0', class: 'npuhub-npus' }) as HTMLInputElement;
    this.timeLimit = h('input', { type: 'text', placeholder: '1:30:00 · 2h · 45m', class: 'npuhub-time' }) as HTMLInputElement;
    this.params = h('textarea', { rows: '2', class: 'npuhub-params',
      placeholder: 'lr=0.01\nepochs=3' }) as HTMLTextAreaElement;
    this.logs = h('pre', { class: 'npuhub-logs' });
    this.node.append(
      h('h2', {}, trans.__('npuhub')),
      h('section', { class: 'npuhub-section' },
        h('h3', {}, trans.__('Datasets')), this.search, this.datasets),
      h('section', { class: 'npuhub-section' },
        h('h3', {}, trans.__('Jobs')),
        field(trans.__('NPUs'), this.npus),
        field(trans.__('Time limit'), this.timeLimit),
        field(trans.__('Parameters'), this.params),
        button(trans.__('Submit current notebook'), () => this.submitCurrent(), 'npuhub-submit'),
        this.jobs, this.logs),
      h('section', { class: 'npuhub-section' },
        h('h3', {}, trans.__('Courses')), this.courses),
      button(trans.__('Refresh'), () => this.refresh(), 'npuhub-refresh'),
      button(trans.__('What this session runs on'),
        () => showSessionRecord(trans).catch(fail), 'npuhub-session-record')
    );
  }

  protected onAfterShow(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refreshJobs(), 3000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    await Promise.all([this.refreshDatasets(), this.refreshJobs(), this.refreshCourses()]);
  }

  // ---------------------------------------------------------------- datasets

  async refreshDatasets(): Promise<void> {
    try {
      this.datasetRows = (await api('datasets')) || [];
    } catch (e) {
      this.datasets.replaceChildren(h('div', { class: 'npuhub-error' }, String((e as Error).message)));
      return;
    }
    this.renderDatasets();
  }

  private renderDatasets(): void {
    const { trans, app } = this.opts;
    const q = this.search.value.trim().toLowerCase();
    const rows = this.datasetRows.filter(d =>
      !q || `${d.name} ${d.title || ''} ${d.description || ''}`.toLowerCase().includes(q));
    const open = (d: any) => app.commands.execute('filebrowser:go-to-path',
      { path: `/datasets/${d.name}` });
    this.datasets.replaceChildren(
      ...(rows.length ? rows.map(d => h('div',
        { class: 'npuhub-row', 'data-dataset': d.name },
        h('span', { class: 'npuhub-name', title: d.description || '' }, d.title || d.name),
        h('span', { class: 'npuhub-state' }, d.mounted ? trans.__('mounted') : ''),
        h('div', { class: 'npuhub-meta' }, datasetMeta(d, trans)),
        d.mounted
          ? button(trans.__('Unmount'), async () => {
              await api(`datasets/${d.name}/mount`, 'DELETE').catch(fail);
              await this.refreshDatasets();
            })
          : button(trans.__('Mount'), async () => {
              try {
                await api(`datasets/${d.name}/mount`, 'POST');
                Notification.success(trans.__('Mounted %1 at ~/datasets/%1', d.name),
                  { autoClose: 4000 });
              } catch (e) {
                fail(e);
              }
              await this.refreshDatasets();
            }),
        d.mounted ? button(trans.__('Open'), () => void open(d)) : ''
      )) : [h('div', { class: 'npuhub-empty' }, trans.__('No datasets'))])
    );
  }

  // ---------------------------------------------------------------- jobs

  async submitCurrent(): Promise<void> {
    const { trans } = this.opts;
    const path = await this.opts.currentPath();
    if (!path) {
      Notification.warning(trans.__('Open a notebook or script to submit it'), { autoClose: 5000 });
      return;
    }
    try {
      const job = await submitJob(path, this.npus.value, this.timeLimit.value, this.params.value);
      Notification.success(trans.__('Job %1 queued', job.id), { autoClose: 4000 });
    } catch (e) {
      fail(e);
    }
    await this.refreshJobs();
  }

  async refreshJobs(): Promise<void> {
    const { trans } = this.opts;
    let jobs: any[];
    try {
      jobs = (await api('jobs')) || [];
    } catch (e) {
      this.jobs.replaceChildren(h('div', { class: 'npuhub-error' }, String((e as Error).message)));
      return;
    }
    this.jobs.replaceChildren(...jobs.slice(0, 20).map(j => h('div',
      { class: 'npuhub-row', 'data-job': String(j.id) },
      h('span', { class: 'npuhub-name', title: j.source }, `#${j.id} ${j.name || j.source}`),
      h('span', { class: `npuhub-state npuhub-state-${j.state}` }, trans.__(j.state)),
      h('div', { class: 'npuhub-meta npuhub-job-meta' }, jobMeta(j, trans)),
      button(trans.__('Logs'), async () => {
        const r = await api(`jobs/${j.id}/logs`).catch(fail);
        this.logs.textContent = r ? r.text : '';
      }),
      FINAL.includes(j.state)
        ? button(trans.__('Outputs'), () => this.openOutputs(j))
        : button(trans.__('Cancel'), async () => {
            const ok = await showDialog({
              title: trans.__('Cancel job %1?', j.id),
              body: trans.__('The run stops now; what it wrote so far stays in ~/jobs/%1.', j.id),
              buttons: [Dialog.cancelButton({ label: trans.__('Keep running') }),
                Dialog.warnButton({ label: trans.__('Cancel job') })]
            });
            if (!ok.button.accept) {
              return;
            }
            await api(`jobs/${j.id}`, 'DELETE').catch(fail);
            await this.refreshJobs();
          })
    )));
  }

  /** The job's folder in the file browser, and its report (or executed notebook) open. */
  private async openOutputs(j: any): Promise<void> {
    const { app } = this.opts;
    await app.commands.execute('filebrowser:go-to-path', { path: `/jobs/${j.id}` });
    const stem = String(j.source || '').split('/').pop() || '';
    if (stem.endsWith('.ipynb')) {
      const report = `jobs/${j.id}/${stem.replace(/\.ipynb$/, '.html')}`;
      const path = (await exists(report)) ? report : `jobs/${j.id}/${stem}`;
      if (await exists(path)) {
        await app.commands.execute('docmanager:open', { path });
      }
    }
  }

  // ---------------------------------------------------------------- courses

  async refreshCourses(): Promise<void> {
    const { trans } = this.opts;
    let courses: any[];
    try {
      courses = (await api('courses')) || [];
    } catch (e) {
      this.courses.replaceChildren(h('div', { class: 'npuhub-error' }, String((e as Error).message)));
      return;
    }
    this.courses.replaceChildren(...(courses.length ? courses.map(c => this.courseSection.render(c))
      : [h('div', { class: 'npuhub-empty' }, trans.__('No courses'))]));
  }

  private courseSection: CourseSection;
  private datasets: HTMLElement;
  private jobs: HTMLElement;
  private courses: HTMLElement;
  private logs: HTMLElement;
  private search: HTMLInputElement;
  private npus: HTMLInputElement;
  private timeLimit: HTMLInputElement;
  private params: HTMLTextAreaElement;
  private datasetRows: any[] = [];
  private timer = 0;
}

/**
 * The POST /jobs body of the job forms: the time limit and the parameters as typed. The
 * service reads them (hub/parsing.py), as it reads what the magics and the Python API
 * send: `90`, `1:30:00`, `2h`, `45m`, `1h30m`; one `name=value` per line (commas stay
 * in the value) or a JSON object.
 */
export function jobBody(
  source: string, npus: string, timeLimit: string, params: string
): { [k: string]: unknown } {
  const body: { [k: string]: unknown } = { source, npus: parseInt(npus || '0', 10) || 0 };
  if (timeLimit.trim()) {
    body.time_limit = timeLimit.trim();
  }
  if (params.trim()) {
    body.parameters = params;
  }
  return body;
}

export async function submitJob(
  source: string, npus: string, timeLimit: string, params: string
): Promise<any> {
  return api('jobs', 'POST', jobBody(source, npus, timeLimit, params));
}

/** "2 NPUs · 3 min 20 s" (elapsed since the start, or the run's length once it ended) */
export function jobMeta(j: any, trans: TranslationBundle, now = Date.now()): string {
  const parts = [trans._n('%1 NPU', '%1 NPUs', j.npus || 0)];
  if (j.started) {
    const end = j.finished ? Date.parse(j.finished) : now;
    const s = Math.max(0, Math.round((end - Date.parse(j.started)) / 1000));
    parts.push(s >= 60 ? trans.__('%1 min %2 s', Math.floor(s / 60), s % 60)
      : trans.__('%1 s', s));
  } else if (j.reason) {
    parts.push(jobReason(j.reason, trans));
  }
  return parts.join(' · ');
}

/** The reason a job waits, translated when it is one the platform gives (hub/jobs). */
export function jobReason(reason: string, trans: TranslationBundle): string {
  const fixed: { [reason: string]: () => string } = {
    'waiting to be scheduled': () => trans.__('waiting to be scheduled'),
    'starting': () => trans.__('starting'),
    'queued again': () => trans.__('queued again')
  };
  if (fixed[reason]) {
    return fixed[reason]();
  }
  const behind = /^waiting behind job (\d+), first in line$/.exec(reason);
  if (behind) {
    return trans.__('waiting behind job %1, first in line', behind[1]);
  }
  const cancelled = /^cancelled by (\S+)$/.exec(reason);
  if (cancelled) {
    return trans.__('cancelled by %1', cancelled[1]);
  }
  return reason;
}

function size(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/** "1.2 MB · v2 · CC-BY-4.0 · Greetings of the world" */
export function datasetMeta(d: any, trans: TranslationBundle): string {
  return [size(d.size), d.version ? trans.__('version %1', d.version) : '',
    d.license ? trans.__('licence %1', d.license) : '', d.description || '']
    .filter(Boolean).join(' · ');
}
