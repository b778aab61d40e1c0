// The staff console's routes. Every page is its own lazy chunk, so the
// applicant's first page carries none of the console. A page's `roles` are the API's
// x-roles for what it shows; the guard sends a visitor without a staff session to the
// staff sign-in (keeping the address to come back to) and one without the role to /staff.
import type { RouteLocationNormalized, RouteRecordRaw } from 'vue-router'
import { staffSession, type StaffRole } from '../../api'

const page = (path: string, name: string, title: string, roles: StaffRole[], component: RouteRecordRaw['component']) =>
  ({ path, name, component, meta: { title, staff: true, roles } }) as RouteRecordRaw

export const staffRoutes: RouteRecordRaw[] = [
  { path: '/staff/signin', name: 'staff-signin', component: () => import('./StaffSignInPage.vue'), meta: { title: '工作人员登录' } },
  {
    path: '/staff',
    component: () => import('./ConsoleLayout.vue'),
    meta: { staff: true },
    children: [
      page('', 'staff-home', '工作台', [], () => import('./ConsoleHomePage.vue')),
      page('review', 'staff-review', '审核队列', ['reviewer'], () => import('./ReviewQueuePage.vue')),
      page('review/:id(\\d+)', 'staff-review-one', '审核申请', ['reviewer'], () => import('./ReviewPage.vue')),
      page('fulfilment', 'staff-fulfilment', '制证寄送', ['operator', 'admin'], () => import('./FulfilmentPage.vue')),
      page('counter', 'staff-counter', '窗口受理', ['counter'], () => import('./CounterPage.vue')),
      page('counter/:id(\\d+)', 'staff-counter-one', '窗口申请', ['counter'], () => import('./CounterApplicationPage.vue')),
      page('finance', 'staff-finance', '财务', ['finance', 'admin'], () => import('./FinancePage.vue')),
      page('admin/staff', 'staff-admin-staff', '员工', ['admin'], () => import('./AdminStaffPage.vue')),
      page('admin/integrators', 'staff-admin-integrators', '接入平台', ['admin'], () => import('./AdminIntegratorsPage.vue')),
      page('admin/fees', 'staff-admin-fees', '收费标准', ['admin'], () => import('./AdminFeesPage.vue')),
      page('admin/calendar', 'staff-admin-calendar', '工作日历', ['admin'], () => import('./AdminCalendarPage.vue')),
      page('admin/audit', 'staff-admin-audit', '审计日志', ['admin'], () => import('./AdminAuditPage.vue')),
      // Any staff member, for their own password; linked beside their name, not in the nav.
      page('password', 'staff-password', '修改密码', [], () => import('./PasswordPage.vue')),
    ],
  },
]

export function staffGuard(to: RouteLocationNormalized) {
  if (!to.meta.staff) return true
  const me = staffSession.me
  if (!me) return { name: 'staff-signin', query: { next: to.fullPath } }
  const roles = (to.meta.roles ?? []) as StaffRole[]
  if (roles.length && !roles.some((r) => me.roles.includes(r))) return { name: 'staff-home' }
  return true
}
