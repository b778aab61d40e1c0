import { createRouter, createWebHistory } from 'vue-router'
import CatalogPage from './pages/CatalogPage.vue'
import { staffRoutes, staffGuard } from './pages/staff/routes'

// The catalogue is in the first page's bundle; the other pages load on demand, so the first
// page's JS stays small (README "web hall").
export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'catalog', component: CatalogPage, meta: { title: '业务指南' } },
    { path: '/signin', name: 'signin', component: () => import('./pages/SignInPage.vue'), meta: { title: '短信登录' } },
    { path: '/my/applications', name: 'my-applications', component: () => import('./pages/MyApplicationsPage.vue'), meta: { title: '我的申请', auth: true } },
    // The applicant's guided application and one application's page.
    { path: '/apply', name: 'apply', component: () => import('./pages/apply/ApplyPage.vue'), meta: { title: '在线申请', auth: true } },
    { path: '/my/applications/:id(\\d+)', name: 'application', component: () => import('./pages/apply/ApplicationPage.vue'), meta: { title: '申请详情', auth: true } },
    // staff console: /staff/signin and /staff/…, see pages/staff/routes.ts
    ...staffRoutes,
    // ---- after approval: pay, verify, possession, deliverables, invoice (pages/after/).
    // All need a session; the invoice SMS links /invoices/:id.
    { path: '/my/applications/:id(\\d+)/pay', name: 'pay', component: () => import('./pages/after/PayPage.vue'), meta: { title: '在线缴费', auth: true } },
    { path: '/my/applications/:id(\\d+)/pay/return', name: 'pay-return', component: () => import('./pages/after/PayReturnPage.vue'), meta: { title: '支付结果', auth: true } },
    { path: '/my/applications/:id(\\d+)/verify', name: 'verify', component: () => import('./pages/after/VerifyPage.vue'), meta: { title: '短信验证', auth: true } },
    { path: '/my/applications/:id(\\d+)/possession', name: 'possession', component: () => import('./pages/after/PossessionPage.vue'), meta: { title: '证明持有原证书', auth: true } },
    { path: '/my/applications/:id(\\d+)/deliverables', name: 'deliverables', component: () => import('./pages/after/DeliverablesPage.vue'), meta: { title: '证书与发票', auth: true } },
    { path: '/invoices/:id(\\d+)', name: 'invoice', component: () => import('./pages/after/InvoicePage.vue'), meta: { title: '电子发票', auth: true } },
    // ---- end of the after-approval pages
    { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: '页面不存在' } },
  ],
})

router.beforeEach((to) => {
  if (to.meta.auth && !sessionStorage.getItem('certhall.token')) {
    return { name: 'signin', query: { next: to.fullPath } }
  }
  return true
})
// staff console: staff pages need a staff session and one of the page's roles.
router.beforeEach(staffGuard)
router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? '')} - 四川CA自助网厅`
})
