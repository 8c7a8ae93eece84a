// Progressive enhancement only: every page works without this file (CSP: script-src 'self',
// so it is the one script and it is never inline). Written for evergreen browsers.

(() => {
  const units = ['B', 'KiB', 'MiB', 'GiB'];

  function humanSize(bytes) {
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
  }

  /** How long a copy button shows its outcome before reading "Copy" again. */
  const FEEDBACK_MS = 1800;

  // One polite live region for the whole page, so a screen reader hears what a copy did.
  let announcer = null;
  function announce(text) {
    if (!announcer) {
      announcer = document.createElement('span');
      announcer.className = 'visually-hidden';
      announcer.setAttribute('role', 'status');
      document.body.append(announcer);
    }
    announcer.textContent = '';
    window.setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  function flash(button, text) {
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    announce(text);
    window.clearTimeout(Number(button.dataset.timer));
    button.dataset.timer = String(
      window.setTimeout(() => {
        button.textContent = original;
      }, FEEDBACK_MS),
    );
  }

  // The old way, for pages served over plain http (navigator.clipboard exists only in secure
  // contexts: https and localhost): copy the selection of an off-screen text area.
  function copyWithSelection(value) {
    const buffer = document.createElement('textarea');
    buffer.className = 'copy-buffer';
    buffer.value = value;
    buffer.setAttribute('readonly', '');
    buffer.setAttribute('aria-hidden', 'true');
    buffer.tabIndex = -1;
    document.body.append(buffer);
    buffer.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    buffer.remove();
    return copied;
  }

  async function copyText(value) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(value);
        return true;
      } catch {
        // Denied (permissions, an iframe, no user gesture): try the old way.
      }
    }
    return copyWithSelection(value);
  }

  // Nothing could write to the clipboard: select the value on the page for the person to copy.
  function selectForManualCopy(button, source, value) {
    if (source.tagName === 'CODE') {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      return;
    }
    // A link's address is not on the page as text: show it in a read-only field, selected.
    let field = button.parentElement.querySelector('input.copy-fallback');
    if (!field) {
      field = document.createElement('input');
      field.className = 'copy-fallback';
      field.type = 'text';
      field.readOnly = true;
      field.setAttribute('aria-label', 'Address to copy');
      button.after(field);
    }
    field.value = value;
    field.focus();
    field.select();
  }

  // Copy buttons: in the markup but hidden, since without this script they would do nothing.
  function setUpCopyButtons() {
    for (const button of document.querySelectorAll('button.copy')) {
      const byText = button.dataset.copyTarget && document.getElementById(button.dataset.copyTarget);
      const byHref = button.dataset.copyHref && document.getElementById(button.dataset.copyHref);
      const source = byText || byHref;
      if (!source) continue;
      button.hidden = false;
      button.addEventListener('click', async () => {
        const value = (byText ? byText.textContent : byHref.getAttribute('href')) || '';
        if (await copyText(value)) {
          flash(button, 'Copied');
        } else {
          selectForManualCopy(button, source, value);
          flash(button, 'Selected: copy it');
        }
      });
    }
  }

  // The upload form: show the chosen file, accept a file dropped anywhere on the page.
  function setUpUploadForm() {
    const form = document.getElementById('upload-form');
    const input = document.getElementById('torrent-file');
    const chosen = document.getElementById('chosen-file');
    const magnet = document.getElementById('magnet-input');
    if (!form || !input || !chosen) return;

    const showChoice = () => {
      const file = input.files?.[0];
      chosen.textContent = file ? `${file.name} · ${humanSize(file.size)}` : '';
      form.classList.toggle('has-file', Boolean(file));
    };
    // On an error page the magnet field may come back marked invalid; once it is edited or
    // emptied for a file, the mark (and its red border) no longer applies.
    const clearMagnet = () => {
      if (!magnet) return;
      magnet.value = '';
      magnet.removeAttribute('aria-invalid');
    };
    if (magnet) magnet.addEventListener('input', () => magnet.removeAttribute('aria-invalid'));
    input.addEventListener('change', () => {
      showChoice();
      if (input.files && input.files.length > 0) clearMagnet();
    });

    form.addEventListener('submit', () => {
      const button = form.querySelector('button[type="submit"]');
      if (button) {
        button.disabled = true;
        button.textContent = 'Asking the trackers…';
      }
    });

    const carriesFiles = (event) => Boolean(event.dataTransfer && Array.from(event.dataTransfer.types).includes('Files'));
    let depth = 0;
    const setDragging = (on) => document.body.classList.toggle('dragging', on);
    document.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event)) return;
      depth += 1;
      setDragging(true);
    });
    document.addEventListener('dragleave', (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    });
    document.addEventListener('dragover', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    document.addEventListener('drop', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      setDragging(false);
      const files = event.dataTransfer.files;
      if (files.length !== 1) {
        chosen.textContent = 'Drop one .torrent file at a time.';
        return;
      }
      input.files = files;
      showChoice();
      clearMagnet();
      if (typeof form.requestSubmit === 'function') form.requestSubmit();
      else form.submit();
    });
  }

  // A permalink page keeps itself fresh: reload on a timer, paused while the tab is hidden.
  // (Without JavaScript a <noscript> meta refresh does the same, minus the pause.)
  function setUpAutoRefresh() {
    const seconds = Number(document.body.dataset.refreshSeconds);
    if (!(seconds > 0)) return;
    const status = document.getElementById('refresh-status');
    let remaining = seconds;
    const show = () => {
      if (status) status.textContent = `Next update in ${remaining} s.`;
    };
    show();
    window.setInterval(() => {
      if (document.hidden) return;
      remaining -= 1;
      if (remaining <= 0) {
        window.location.reload();
        return;
      }
      show();
    }, 1000);
  }

  setUpCopyButtons();
  setUpUploadForm();
  setUpAutoRefresh();
})();
