// The "shown once" view after a key is created: the secret, a copy button, and ready-to-paste
// snippets for the Anthropic SDK, the OpenAI SDK, Claude Code and SillyTavern.
import { AlertTriangle } from 'lucide-react';
import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { CopyButton } from '@/components/common';
import { Button } from '@/components/ui/button';
import { DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { CodeBlock } from './shared';

const MODEL = 'claude-sonnet-4-5';

export function snippets(key: string, origin: string) {
  const anthropicTs = `import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({
  apiKey: '${key}',
  baseURL: '${origin}',
});

const message = await client.messages.create({
  model: '${MODEL}',
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'Hello, Claude' }],
});
console.log(message.content);`;

  const anthropicPy = `import anthropic

client = anthropic.Anthropic(
    api_key="${key}",
    base_url="${origin}",
)

message = client.messages.create(
    model="${MODEL}",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello, Claude"}],
)
print(message.content)`;

  const openaiTs = `import OpenAI from 'openai';

const client = new OpenAI({
  apiKey: '${key}',
  baseURL: '${origin}/v1',
});

const completion = await client.chat.completions.create({
  model: '${MODEL}',
  messages: [{ role: 'user', content: 'Hello, Claude' }],
});
console.log(completion.choices[0].message.content);`;

  const openaiPy = `from openai import OpenAI

client = OpenAI(
    api_key="${key}",
    base_url="${origin}/v1",
)

completion = client.chat.completions.create(
    model="${MODEL}",
    messages=[{"role": "user", "content": "Hello, Claude"}],
)
print(completion.choices[0].message.content)`;

  const claudeCode = `export ANTHROPIC_BASE_URL=${origin}
export ANTHROPIC_API_KEY=${key}
claude`;

  return { anthropicTs, anthropicPy, openaiTs, openaiPy, claudeCode, proxyUrl: `${origin}/v1` };
}

export function CreatedKeyView({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  const { t } = useTranslation(['keys', 'common']);
  const origin = window.location.origin;
  const s = snippets(secret, origin);
  const copy = t('created_.copySnippet');
  const top = useRef<HTMLDivElement>(null);
  // The form that was here is gone: start at the top, with the key in view and focus on its copy button.
  useEffect(() => {
    const el = top.current;
    el?.closest('[role=dialog]')?.scrollTo({ top: 0 });
    el?.querySelector<HTMLButtonElement>('button')?.focus();
  }, []);
  return (
    <>
      <DialogHeader>
        <DialogTitle>{t('created_.title', { name })}</DialogTitle>
        <DialogDescription>{t('created_.text')}</DialogDescription>
      </DialogHeader>

      <div className="grid min-w-0 gap-2" ref={top}>
        <div className="text-sm font-medium">{t('created_.key')}</div>
        <div className="flex min-w-0 flex-col gap-2 sm:flex-row sm:items-stretch">
          <code
            data-testid="key-secret"
            className="min-w-0 flex-1 select-all break-all rounded-md border bg-muted px-3 py-2 font-mono text-sm"
          >
            {secret}
          </code>
          <CopyButton text={secret} />
        </div>
        <div
          role="alert"
          className="flex gap-2 rounded-md border border-warning/50 bg-warning/10 p-3 text-sm text-foreground"
        >
          <AlertTriangle className="mt-0.5 size-4 shrink-0 text-warning" />
          <span>{t('created_.warning')}</span>
        </div>
      </div>

      <div className="grid min-w-0 gap-2">
        <div className="text-sm font-medium">{t('created_.howTo')}</div>
        <Tabs defaultValue="anthropic" className="min-w-0">
          <TabsList className="h-auto flex-wrap justify-start">
            <TabsTrigger value="anthropic" data-testid="snippet-tab-anthropic">{t('created_.tabs.anthropic')}</TabsTrigger>
            <TabsTrigger value="openai" data-testid="snippet-tab-openai">{t('created_.tabs.openai')}</TabsTrigger>
            <TabsTrigger value="claude-code" data-testid="snippet-tab-claude-code">{t('created_.tabs.claudeCode')}</TabsTrigger>
            <TabsTrigger value="sillytavern" data-testid="snippet-tab-sillytavern">{t('created_.tabs.sillytavern')}</TabsTrigger>
          </TabsList>
          <TabsContent value="anthropic" className="grid min-w-0 gap-3">
            <CodeBlock title={t('created_.typescript')} code={s.anthropicTs} copyLabel={copy} testId="snippet-anthropic-ts" />
            <CodeBlock title={t('created_.python')} code={s.anthropicPy} copyLabel={copy} testId="snippet-anthropic-py" />
          </TabsContent>
          <TabsContent value="openai" className="grid min-w-0 gap-3">
            <p className="text-xs text-muted-foreground">{t('created_.openaiNote')}</p>
            <CodeBlock title={t('created_.typescript')} code={s.openaiTs} copyLabel={copy} testId="snippet-openai-ts" />
            <CodeBlock title={t('created_.python')} code={s.openaiPy} copyLabel={copy} testId="snippet-openai-py" />
          </TabsContent>
          <TabsContent value="claude-code" className="grid min-w-0 gap-3">
            <CodeBlock title={t('created_.shell')} code={s.claudeCode} copyLabel={copy} testId="snippet-claude-code" />
            <p className="text-xs text-muted-foreground">{t('created_.claudeCodeNote')}</p>
          </TabsContent>
          <TabsContent value="sillytavern" className="min-w-0">
            <ol className="grid list-decimal gap-2 pl-5 text-sm marker:text-muted-foreground" data-testid="snippet-sillytavern">
              <li>{t('created_.stSteps.s1')}</li>
              <li>{t('created_.stSteps.s2')}</li>
              <li>
                {t('created_.stSteps.s3')}
                <CopyLine text={s.proxyUrl} />
              </li>
              <li>
                {t('created_.stSteps.s4')}
                <CopyLine text={secret} />
              </li>
              <li>{t('created_.stSteps.s5')}</li>
            </ol>
          </TabsContent>
        </Tabs>
      </div>

      <DialogFooter>
        <Button data-testid="key-done" onClick={onDone}>
          {t('created_.done')}
        </Button>
      </DialogFooter>
    </>
  );
}

function CopyLine({ text }: { text: string }) {
  return (
    <div className="mt-1.5 flex min-w-0 items-center gap-2">
      <code className="min-w-0 flex-1 break-all rounded-md border bg-muted px-2 py-1 font-mono text-xs">{text}</code>
      <CopyButton text={text} size="icon" />
    </div>
  );
}
