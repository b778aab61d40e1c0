// What every after-approval page does around a call: show progress while it runs (a
// disabled button and a role="status" line), send an expired session to sign in and back to
// this page, and tell any other failure in Chinese (problems.ts), or at a field when the
// page says how.
import { ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { ApiError } from '../../api'
import { problemText } from '../../problems'

export function useAction() {
  const router = useRouter()
  const route = useRoute()
  const busy = ref(false)
  const progress = ref('')
  const failure = ref<string | null>(null)

  /**
   * Runs fn with `busy` set and `doing` as progress; its result (a message) becomes the
   * progress. On failure: sign-in for a 401; else `explain(e)` when given may say what to
   * show as the page's failure (or null when it told the user at a field); otherwise the
   * problem in Chinese. Resolves true when fn succeeded.
   */
  async function act(doing: string, fn: () => Promise<string | void>,
    explain?: (e: unknown) => string | null | undefined): Promise<boolean> {
    busy.value = true
    failure.value = null
    progress.value = doing
    try {
      progress.value = (await fn()) ?? ''
      return true
    } catch (e) {
      progress.value = ''
      if (e instanceof ApiError && e.problem.status === 401) {
        await router.push({ name: 'signin', query: { next: route.fullPath } })
        return false
      }
      const told = explain?.(e)
      failure.value = told === undefined ? problemText(e) : told
      return false
    } finally {
      busy.value = false
    }
  }

  return { busy, progress, failure, act }
}
