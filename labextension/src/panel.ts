// The left sidebar "npuhub": Datasets, Jobs, Courses.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api, readFiles, writeFiles } from './api';
import { button, field, h } from './dom';

const FINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export interface IPanelOptions {
  app: JupyterFrontEnd;
  trans: TranslationBundle;
  currentPath: () => string | null;
}

function fail(e: unknown): void {
  Notification.error(String((e as Error).message || e), { autoClose: 8000 });
}

export class NPUHubPanel extends Widget {
  constructor(private opts: IPanelOptions) {
    super();
    const { trans } = opts;
    this.id = 'npuhub-sidebar';
    this.addClass('npuhub-panel');
    this.title.caption = 'npuhub';
    this.title.label = 'npuhub';
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
      button(trans.__('Refresh'), () => this.refresh(), 'npuhub-refresh')
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
    const path = this.opts.currentPath();
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
    const { trans, app } = this.opts;
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
      button(trans.__('Logs'), async () => {
        const r = await api(`jobs/${j.id}/logs`).catch(fail);
        this.logs.textContent = r ? r.text : '';
      }),
      FINAL.includes(j.state)
        ? button(trans.__('Outputs'), () => void app.commands.execute(
            'filebrowser:go-to-path', { path: `/jobs/${j.id}` }))
        : button(trans.__('Cancel'), async () => {
            await api(`jobs/${j.id}`, 'DELETE').catch(fail);
            await this.refreshJobs();
          })
    )));
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
    this.courses.replaceChildren(...(courses.length ? courses.map(c => this.course(c))
      : [h('div', { class: 'npuhub-empty' }, trans.__('No courses'))]));
  }

  private course(c: any): HTMLElement {
    const { trans } = this.opts;
    const instructor = c.role === 'instructor';
    const act = (label: string, fn: () => Promise<unknown>) => button(label, async () => {
      try {
        await fn();
      } catch (e) {
        fail(e);
      }
      await this.refreshCourses();
    });
    const rows = (c.assignments || []).map((a: any) => {
      const base = `courses/${c.id}/assignments/${a.name}`;
      const folder = `courses/${c.id}/${a.name}`;
      const done = (msg: string) => Notification.success(msg, { autoClose: 4000 });
      const status = a.score !== null && a.score !== undefined
        ? trans.__('score %1 / %2', a.score, a.max_score)
        : a.submitted_at ? trans.__('submitted') : a.released ? trans.__('released') : '';
      return h('div', { class: 'npuhub-row', 'data-assignment': `${c.id}/${a.name}` },
        h('span', { class: 'npuhub-name' }, a.name),
        h('span', { class: 'npuhub-state' }, status),
        ...(instructor ? [
          act(trans.__('Release'), async () => { await api(`${base}/release`, 'POST', {}); done(trans.__('Released %1', a.name)); }),
          act(trans.__('Collect'), async () => { await api(`${base}/collect`, 'POST', {}); done(trans.__('Collected %1', a.name)); }),
          act(trans.__('Autograde'), async () => {
            // grading runs in the background: follow its progress in a notification
            let r = await api(`${base}/autograde?wait=0`, 'POST', {});
            const progress = () => trans.__('Grading %1: %2 of %3 done…', a.name, r.done, r.total);
            const id = Notification.emit(progress(), 'in-progress', { autoClose: false });
            while (r.state === 'running') {
              await new Promise(resolve => setTimeout(resolve, 2000));
              r = await api(`${base}/autograde`);
              Notification.update({ id, message: progress() });
            }
            if (r.state === 'failed') {
              Notification.update({ id, message: r.error || trans.__('Autograding failed'), type: 'error', autoClose: false });
              return;
            }
            Notification.update({
              id, message: trans.__('Graded %1 submissions', r.graded), type: 'success',
              autoClose: 4000
            });
          })
        ] : [
          act(trans.__('Fetch'), async () => {
            const r = await api(`${base}/fetch`);
            const written = await writeFiles(folder, r.files);
            done(trans.__('Fetched %1 files into ~/%2', written.length, folder));
            await this.opts.app.commands.execute('filebrowser:go-to-path', { path: `/${folder}` });
          }),
          act(trans.__('Submit'), async () => {
            const files = await readFiles(folder);
            await api(`${base}/submit`, 'POST', { files });
            done(trans.__('Submitted %1', a.name));
          }),
          act(trans.__('Feedback'), async () => {
            const r = await api(`${base}/feedback`);
            await writeFiles(`${folder}/feedback`, r.files, true);
            await this.opts.app.commands.execute('filebrowser:go-to-path', { path: `/${folder}/feedback` });
          })
        ])
      );
    });
    const grades = instructor ? [act(trans.__('Grades'), async () => {
      const g: any[] = await api(`courses/${c.id}/grades`);
      this.logs.textContent = g.map(r => `${r.student}\t${r.assignment}\t${r.score}/${r.max_score}`).join('\n');
    })] : [];
    return h('div', { class: 'npuhub-course', 'data-course': c.id },
      h('h4', {}, `${c.title || c.id} (${instructor ? trans.__('instructor') : trans.__('student')})`),
      ...rows, ...grades);
  }

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
