-- The service hall's catalogue (SPEC §2, §3, §12), seeded with the service
-- guide's data (seed/scca-service-guide-v1.0.zh.txt).  Business rules that
-- code branches on (settlement, fulfilment, eligibility, validity) are
-- constrained to the values the code knows.
--
-- Single-row tables use a boolean key that can only be true.

CREATE TABLE business_type (
    code                 text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    position             integer NOT NULL UNIQUE,
    name                 text NOT NULL,
    description          text NOT NULL,
    settlement           text NOT NULL CHECK (settlement IN ('pay', 'verify')),
    fulfilment           text NOT NULL
                         CHECK (fulfilment IN ('ship', 'online', 'revoke', 'unlock')),
    requires_certificate boolean NOT NULL,
    -- proof of possession: the handler signs a nonce with the USB key
    requires_usb_key     boolean NOT NULL,
    eligibility          text NOT NULL
                         CHECK (eligibility IN ('any_time', 'renew_window', 'certificate_valid')),
    renew_window_days    integer CHECK (renew_window_days > 0),
    validity             text NOT NULL
                         CHECK (validity IN ('new_term', 'extend', 'same_as_original', 'none')),
    CHECK ((eligibility = 'renew_window') = (renew_window_days IS NOT NULL))
);

CREATE TABLE certificate_type (
    code           text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    position       integer NOT NULL UNIQUE,
    name           text NOT NULL,
    subject_fields text[] NOT NULL
);

CREATE TABLE material_kind (
    code     text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    position integer NOT NULL UNIQUE,
    name     text NOT NULL
);

CREATE TABLE required_material (
    business_type    text NOT NULL REFERENCES business_type,
    certificate_type text NOT NULL REFERENCES certificate_type,
    material_kind    text NOT NULL REFERENCES material_kind,
    position         integer NOT NULL,
    title            text NOT NULL,
    PRIMARY KEY (business_type, certificate_type, material_kind),
    UNIQUE (business_type, certificate_type, position)
);

CREATE TABLE material_policy (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    accepted_types         text[] NOT NULL,
    max_file_bytes         bigint NOT NULL CHECK (max_file_bytes > 0),
    max_application_bytes  bigint NOT NULL
                           CHECK (max_application_bytes >= max_file_bytes),
    official_seal_required boolean NOT NULL,
    official_seal_note     text NOT NULL
);

CREATE TABLE term_policy (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_years integer NOT NULL CHECK (min_years >= 1),
    max_years integer NOT NULL CHECK (max_years >= min_years)
);

CREATE TABLE online_flow_step (
    step        integer PRIMARY KEY CHECK (step > 0),
    title       text NOT NULL,
    description text NOT NULL
);

CREATE TABLE counter_info (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    address   text NOT NULL,
    open_days text NOT NULL,
    -- ISO weekdays, 1 = Monday … 7 = Sunday
    weekdays  integer[] NOT NULL CHECK (weekdays <@ ARRAY[1,2,3,4,5,6,7]),
    note      text NOT NULL
);

CREATE TABLE support_info (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    website      text NOT NULL,
    hotline      text NOT NULL,
    hotline_note text NOT NULL,
    qq           text NOT NULL
);

INSERT INTO business_type VALUES
  ('new', 1, '新办', '用户首次申请数字证书或额外增加数字证书。',
   'pay', 'ship', false, false, 'any_time', NULL, 'new_term'),
  ('renew', 2, '更新',
   '证书即将到期或已到期时申请延长有效期（证书到期前60天起可办理更新），办理更新时需携带数字证书USBKey。',
   'pay', 'online', true, true, 'renew_window', 60, 'extend'),
  ('reissue', 3, '补办',
   '证书在有效期内丢失或损坏时申请补办数字证书，补办的数字证书（含电子印章）有效期同原有效期。',
   'pay', 'ship', true, false, 'certificate_valid', NULL, 'same_as_original'),
  ('change', 4, '变更',
   '证书主体信息（单位名称、证照号、个人姓名）变更时申请变更业务，办理变更时需携带数字证书USBKey。',
   'verify', 'online', true, true, 'certificate_valid', NULL, 'same_as_original'),
  ('revoke', 5, '吊销', '证书遗失或不再使用时申请吊销数字证书。',
   'verify', 'revoke', true, false, 'certificate_valid', NULL, 'none'),
  ('unlock', 6, '解锁', '证书密码忘记或锁定时申请重置密码。',
   'verify', 'unlock', true, false, 'certificate_valid', NULL, 'none');

INSERT INTO certificate_type VALUES
  ('org', 1, '企业/机构证书（含电子印章）', ARRAY['unit_name', 'credit_code']),
  ('personal', 2, '个人证书（含电子印章）',
   ARRAY['holder_name', 'holder_id_number', 'unit_name', 'credit_code']);

INSERT INTO material_kind VALUES
  ('application_form', 1, '业务申请表'),
  ('business_license', 2, '单位营业执照复印件'),
  ('holder_id', 3, '证书持有人有效身份证件复印件'),
  ('handler_id', 4, '证书经办人有效身份证件复印件');

-- The matrix of SPEC §3: new/renew/change need the full set, the others the
-- form and the handler's ID; personal certificates add the holder's ID.
INSERT INTO required_material (business_type, certificate_type, material_kind, position, title)
SELECT b.code, c.code, k.code, k.position,
       CASE WHEN k.code = 'application_form' AND c.code = 'org'
                THEN '《企业/机构数字证书及电子印章业务申请表》'
            WHEN k.code = 'application_form'
                THEN '《个人数字证书及电子印章业务申请表》'
            ELSE k.name END
  FROM business_type b CROSS JOIN certificate_type c CROSS JOIN material_kind k
 WHERE k.code IN ('application_form', 'handler_id')
    OR (b.code IN ('new', 'renew', 'change') AND k.code = 'business_license')
    OR (b.code IN ('new', 'renew', 'change') AND c.code = 'personal'
        AND k.code = 'holder_id');

INSERT INTO material_policy VALUES
  (true, ARRAY['application/pdf', 'image/jpeg', 'image/png'],
   10485760, 52428800, true, '资料均须加盖单位公章(鲜章)');

INSERT INTO term_policy VALUES (true, 1, 5);

INSERT INTO online_flow_step VALUES
  (1, '选择业务类型', '用户登录四川CA自助网厅，依次选择“业务类型”“证书类型”。'),
  (2, '提交申请', '根据页面引导完成在线申请，四川CA审核申请后发送通知短信。'),
  (3, '在线缴费或验证', '审核通过后，经办人完成单位在线缴费或验证。'),
  (4, '接受证书', '四川CA 2个工作日内寄送证书(或开通权限)，由经办人本人签收。'),
  (5, '发票获取', '经办人收到电子发票短信后，根据提示获取发票。');

INSERT INTO counter_info VALUES
  (true, '成都市武侯区锦云西二巷南侧成都交易所大厦2楼', '仅周二', ARRAY[2],
   '窗口现场提交申请资料、缴纳费用，符合办理要求的现场办结。');

INSERT INTO support_info VALUES
  (true, 'www.scca.com.cn', '400-028-1130', '农交所专线接通后按5', '4008676868');
