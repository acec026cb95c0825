"""Bilingual vocabulary of the synthetic shop: category tree, product words, segments and
the FAQ intents that support tickets paraphrase. Data only."""

from __future__ import annotations

# (l1_en, l1_zh, l2_en, l2_zh, nouns[(en, zh)], base_price_cny, repeatable, variant_kind, complement_l2_en)
CATEGORY_TREE = [
    ("Electronics", "电子产品", "Phones", "手机", [("Smartphone", "智能手机")], 2600, False, "color", "Chargers & Cables"),
    ("Electronics", "电子产品", "Headphones", "耳机", [("Wireless Earbuds", "无线耳机"), ("Over-Ear Headphones", "头戴式耳机")], 420, False, "color", "Chargers & Cables"),
    ("Electronics", "电子产品", "Chargers & Cables", "充电器与数据线", [("Fast Charger", "快充充电器"), ("USB-C Cable", "USB-C数据线")], 60, True, "pack", "Phones"),
    ("Electronics", "电子产品", "Smartwatches", "智能手表", [("Smartwatch", "智能手表"), ("Fitness Band", "运动手环")], 1100, False, "color", "Yoga & Fitness"),
    ("Beauty", "美妆个护", "Skincare", "护肤", [("Moisturiser", "保湿面霜"), ("Serum", "精华液"), ("Sunscreen", "防晒霜")], 180, True, "volume", "Makeup"),
    ("Beauty", "美妆个护", "Makeup", "彩妆", [("Lipstick", "口红"), ("Foundation", "粉底液")], 150, True, "color", "Skincare"),
    ("Beauty", "美妆个护", "Hair Care", "洗护发", [("Shampoo", "洗发水"), ("Conditioner", "护发素")], 70, True, "volume", "Skincare"),
    ("Beauty", "美妆个护", "Fragrance", "香水", [("Eau de Parfum", "香水"), ("Body Mist", "香体喷雾")], 480, False, "volume", "Makeup"),
    ("Fashion", "服饰鞋包", "Women's Dresses", "女装连衣裙", [("Midi Dress", "中长连衣裙"), ("Summer Dress", "夏季连衣裙")], 320, False, "size", "Bags"),
    ("Fashion", "服饰鞋包", "Men's Shirts", "男装衬衫", [("Oxford Shirt", "牛津纺衬衫"), ("Linen Shirt", "亚麻衬衫")], 210, False, "size", "Sneakers"),
    ("Fashion", "服饰鞋包", "Sneakers", "运动鞋", [("Running Shoes", "跑鞋"), ("Canvas Sneakers", "帆布鞋")], 520, False, "color", "Sportswear"),
    ("Fashion", "服饰鞋包", "Bags", "箱包", [("Backpack", "双肩包"), ("Tote Bag", "托特包")], 360, False, "color", "Women's Dresses"),
    ("Home & Kitchen", "家居厨房", "Cookware", "锅具", [("Frying Pan", "不粘煎锅"), ("Stock Pot", "汤锅")], 260, False, "size", "Small Appliances"),
    ("Home & Kitchen", "家居厨房", "Small Appliances", "小家电", [("Air Fryer", "空气炸锅"), ("Blender", "破壁机")], 620, False, "color", "Cookware"),
    ("Home & Kitchen", "家居厨房", "Bedding", "床上用品", [("Duvet Cover", "被套"), ("Pillow", "枕头")], 270, False, "size", "Storage"),
    ("Home & Kitchen", "家居厨房", "Storage", "收纳整理", [("Storage Box", "收纳箱"), ("Drawer Organiser", "抽屉收纳盒")], 85, True, "pack", "Bedding"),
    ("Sports & Outdoors", "运动户外", "Yoga & Fitness", "瑜伽健身", [("Yoga Mat", "瑜伽垫"), ("Dumbbell Set", "哑铃套装")], 160, False, "color", "Sportswear"),
    ("Sports & Outdoors", "运动户外", "Camping", "露营", [("Camping Tent", "露营帐篷"), ("Sleeping Bag", "睡袋")], 460, False, "color", "Cycling"),
    ("Sports & Outdoors", "运动户外", "Cycling", "骑行", [("Bike Helmet", "骑行头盔"), ("Cycling Gloves", "骑行手套")], 290, False, "size", "Sportswear"),
    ("Sports & Outdoors", "运动户外", "Sportswear", "运动服", [("Sports Leggings", "运动紧身裤"), ("Running Jacket", "跑步夹克")], 230, False, "size", "Sneakers"),
    ("Grocery & Baby", "食品母婴", "Snacks", "休闲零食", [("Mixed Nuts", "每日坚果"), ("Dark Chocolate", "黑巧克力")], 45, True, "weight", "Coffee & Tea"),
    ("Grocery & Baby", "食品母婴", "Coffee & Tea", "咖啡茶饮", [("Coffee Beans", "咖啡豆"), ("Green Tea", "绿茶")], 95, True, "weight", "Snacks"),
    ("Grocery & Baby", "食品母婴", "Baby Care", "婴儿护理", [("Diapers", "纸尿裤"), ("Baby Wipes", "婴儿湿巾")], 120, True, "pack", "Toys"),
    ("Grocery & Baby", "食品母婴", "Toys", "玩具", [("Building Blocks", "积木"), ("Plush Toy", "毛绒玩具")], 170, False, "color", "Baby Care"),
]

VARIANTS = {
    "color": [("Black", "黑色"), ("White", "白色"), ("Blue", "蓝色"), ("Red", "红色"), ("Green", "绿色"), ("Grey", "灰色"), ("Pink", "粉色"), ("Beige", "米色")],
    "volume": [("30 ml", "30毫升"), ("50 ml", "50毫升"), ("100 ml", "100毫升"), ("200 ml", "200毫升")],
    "weight": [("250 g", "250克"), ("500 g", "500克"), ("1 kg", "1千克")],
    "size": [("Size S", "S码"), ("Size M", "M码"), ("Size L", "L码"), ("Size XL", "XL码")],
    "pack": [("Pack of 1", "1件装"), ("Pack of 2", "2件装"), ("Pack of 4", "4件装")],
}

ADJECTIVES = [
    ("Lightweight", "轻量"), ("Premium", "高端"), ("Classic", "经典"), ("Compact", "小巧"),
    ("Eco-Friendly", "环保"), ("Ultra-Soft", "超柔"), ("Portable", "便携"), ("Waterproof", "防水"),
    ("Smart", "智能"), ("Minimalist", "简约"), ("Deluxe", "豪华"), ("Everyday", "日常"),
]

BRAND_HEADS = [("Vol", "沃"), ("Nex", "耐"), ("Lu", "露"), ("Ka", "卡"), ("Mi", "米"), ("Zen", "禅"), ("Aur", "奥"),
               ("Bel", "贝"), ("Co", "可"), ("Da", "达"), ("Fen", "芬"), ("Ga", "佳"), ("Hal", "哈"), ("Ivo", "艾"),
               ("Jo", "乔"), ("Kel", "凯"), ("Lin", "琳"), ("Mo", "莫"), ("Nor", "诺"), ("Or", "欧")]
BRAND_TAILS = [("tra", "特"), ("ra", "拉"), ("lo", "洛"), ("ne", "妮"), ("vi", "维"), ("xa", "莎"), ("mo", "摩"),
               ("ton", "顿"), ("ly", "莉"), ("sen", "森"), ("ric", "瑞"), ("da", "达")]

DESCRIPTION_TEMPLATES = {
    "en": [
        "{adj} {noun} by {brand}, {variant}. Part of our {leaf} range, rated {rating} by shoppers.",
        "Meet the {brand} {noun}: {adj_lower} design in {variant}. A {leaf_lower} favourite rated {rating}/5.",
        "{brand} {noun} ({variant}). {adj} build for everyday use; shoppers rate it {rating}.",
    ],
    "zh": [
        "{brand}{adj}{noun}，{variant}。{leaf}热销单品，用户评分{rating}分。",
        "{brand}出品{noun}，{adj}设计，{variant}。{leaf}人气之选，评分{rating}。",
        "{adj}{noun}（{variant}），来自{brand}，日常使用更省心，用户评分{rating}。",
    ],
}

# segment -> (l1 preference over the six top categories in CATEGORY_TREE order, price sensitivity, activity)
TOP_CATEGORIES = ["Electronics", "Beauty", "Fashion", "Home & Kitchen", "Sports & Outdoors", "Grocery & Baby"]
SEGMENTS = {
    "tech_enthusiast": ([6, 0.3, 0.7, 0.8, 1.0, 0.4], 0.35, 1.2),
    "beauty_lover": ([0.4, 6, 1.5, 0.5, 0.4, 0.6], 0.45, 1.1),
    "fashionista": ([0.5, 1.5, 6, 0.4, 0.8, 0.3], 0.40, 1.1),
    "home_maker": ([0.5, 0.6, 0.5, 6, 0.3, 2.0], 0.60, 0.9),
    "fitness_fan": ([1.0, 0.4, 1.2, 0.3, 6, 0.8], 0.45, 1.0),
    "young_parent": ([0.4, 0.8, 0.5, 2.0, 0.3, 6], 0.65, 1.0),
    "bargain_hunter": ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 0.90, 0.8),
    "premium_shopper": ([2.0, 2.5, 2.5, 1.0, 0.8, 0.4], 0.10, 0.9),
}
SEGMENT_SHARES = [0.14, 0.14, 0.14, 0.12, 0.12, 0.10, 0.14, 0.10]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]
AGE_SHARES = [0.2, 0.34, 0.24, 0.13, 0.09]

CITIES_ZH = ["Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Hangzhou", "Chengdu", "Wuhan", "Nanjing"]
COUNTRIES_EN = [("United States", ["New York", "Seattle", "Austin"]), ("United Kingdom", ["London", "Manchester"]),
                ("Singapore", ["Singapore"]), ("Australia", ["Sydney", "Melbourne"]), ("Canada", ["Toronto", "Vancouver"])]
FIRST_EN = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Grace", "Jack", "Chloe", "Leo"]
LAST_EN = ["Smith", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Hall", "Young", "King", "Wright"]
FIRST_ZH = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("磊", "lei"), ("洋", "yang"), ("婷", "ting")]
LAST_ZH = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("赵", "zhao"), ("周", "zhou")]

QUESTION_TEMPLATES = {
    "en": ["How do I {core}?", "Can I {core}?", "I want to {core}, what should I do?", "Is there a way to {core}?",
           "Please tell me how to {core}.", "what's the process to {core}"],
    "zh": ["怎么{core}？", "请问可以{core}吗？", "我想{core}，该怎么办？", "如何{core}？", "麻烦告诉我怎样{core}。", "{core}要怎么操作"],
}
PRODUCT_QUESTION_TEMPLATES = {
    "en": ["About the {product} I bought: how do I {core}?", "I ordered the {product}. Can I {core}?"],
    "zh": ["我买的{product}，怎么{core}？", "关于{product}，请问可以{core}吗？"],
}
GREETINGS = {"en": ["", "", "Hi, ", "Hello, ", "Hi there! "], "zh": ["", "", "你好，", "您好，", "在吗？"]}
CLOSINGS = {"en": ["", "", " Thanks!", " Thank you."], "zh": ["", "", "谢谢！", "多谢。"]}

# The FAQ's answers that state the customer's own account (filled from the warehouse at
# reply time; a customer with no such fact is handed to a person). Agents' answers on the
# tickets stay the generic text of FAQ_INTENTS.
ACCOUNT_ANSWERS = {
    "order_status": ("Your latest order ({last_order_item}) was placed on {last_order_date}; every order's status is "
                     "listed under My Orders.",
                     "您最近的订单（{last_order_item}）于{last_order_date}下单，所有订单状态都可在“我的订单”中查看。"),
    "shipping_time": ("Your latest order ({last_order_item}) was placed on {last_order_date}; standard delivery takes "
                      "2-5 working days and the estimate is shown on the order page.",
                      "您最近的订单（{last_order_item}）于{last_order_date}下单，普通快递一般2-5个工作日送达，订单页面会显示预计送达时间。"),
    "refund_time": ("Your latest refund ({last_refund_item}) was issued on {last_refund_date}; it reaches your original "
                    "payment method within 1-3 working days.",
                    "您最近的退款（{last_refund_item}）已于{last_refund_date}发起，将在1-3个工作日内原路返回。"),
}

# (intent, topic, [en cores], [zh cores], en answer, zh answer, mentions_product)
FAQ_INTENTS = [
    ("track_order", "shipping", ["track my order", "see where my package is"], ["查询订单物流", "查看包裹到哪了"], "Open My Orders in the app and tap Track to see the live courier status.", "在App的“我的订单”中点击“查看物流”即可查看实时配送状态。", False),
    ("shipping_time", "shipping", ["know when my order will arrive", "estimate the delivery time"], ["知道订单什么时候到", "查询预计送达时间"], "Standard delivery takes 2-5 working days; the estimate is shown on the order page.", "普通快递一般2-5个工作日送达，订单页面会显示预计送达时间。", False),
    ("shipping_fee", "shipping", ["get free shipping", "avoid paying the delivery fee"], ["享受包邮", "免运费"], "Orders over 99 CNY ship free; members get free shipping on every order.", "订单满99元包邮，会员全场包邮。", False),
    ("change_address", "shipping", ["change my delivery address", "update the shipping address"], ["修改收货地址", "更改配送地址"], "You can edit the address in My Orders until the parcel is handed to the courier.", "包裹交给快递前，可在“我的订单”中修改收货地址。", False),
    ("international_shipping", "shipping", ["ship my order abroad", "order for delivery overseas"], ["寄到国外", "配送到海外"], "We ship to 30 countries; choose your country at checkout to see the fee.", "我们支持配送至30个国家和地区，结算时选择国家即可查看运费。", False),
    ("missing_parcel", "shipping", ["report a missing parcel", "find a package marked delivered that I never got"], ["反馈包裹丢失", "处理显示已签收但没收到的包裹"], "Sorry about that! Report it under My Orders > Help within 7 days and we will investigate with the courier.", "非常抱歉！请在7天内通过“我的订单-帮助”反馈，我们会联系快递核查。", False),
    ("express_delivery", "shipping", ["get next-day delivery", "choose express shipping"], ["选择次日达", "选择加急配送"], "Next-day delivery is available in major cities; select Express at checkout.", "主要城市支持次日达，结算时选择“加急配送”即可。", False),
    ("pickup_point", "shipping", ["collect my parcel at a pickup point", "send my order to a locker"], ["到自提点取件", "把订单寄到快递柜"], "Choose a pickup point on the checkout page; you will get a code when the parcel arrives.", "结算页选择自提点，包裹到达后会发送取件码。", False),
    ("cancel_order", "orders", ["cancel my order", "cancel an order I just placed"], ["取消订单", "取消刚下的订单"], "Unshipped orders can be cancelled in My Orders; the refund is automatic.", "未发货订单可在“我的订单”中直接取消，款项将自动退回。", False),
    ("modify_order", "orders", ["change the items in my order", "add something to an existing order"], ["修改订单里的商品", "给已下单的订单加商品"], "Orders cannot be edited once paid; cancel and re-order if it has not shipped yet.", "订单支付后无法修改，如未发货可取消后重新下单。", False),
    ("order_status", "orders", ["check my order status", "see if my order was confirmed"], ["查看订单状态", "确认订单是否下单成功"], "Every order's status is listed under My Orders; you also get a confirmation message.", "所有订单状态都可在“我的订单”中查看，下单成功后也会收到通知。", False),
    ("invoice", "orders", ["get an invoice", "download a receipt for my order"], ["开发票", "下载订单收据"], "Request an electronic invoice on the order page; it is emailed within 24 hours.", "在订单页面申请电子发票，24小时内发送至您的邮箱。", False),
    ("missing_item", "orders", ["report an item missing from my parcel", "get a missing item sent"], ["反馈包裹少件", "补发漏发的商品"], "Please report the missing item within 48 hours with a photo of the parcel and we will resend it.", "请在48小时内附包裹照片反馈少件问题，我们会为您补发。", True),
    ("wrong_item", "orders", ["return a wrong item I received", "exchange an item that is not what I ordered"], ["退回发错的商品", "换掉发错的货"], "We are sorry! Report the wrong item in My Orders; return shipping is on us.", "非常抱歉！请在“我的订单”中反馈发错货，退回运费由我们承担。", True),
    ("order_history", "orders", ["see my past orders", "find an old order"], ["查看历史订单", "找到以前的订单"], "All orders from the last two years are listed under My Orders > All.", "近两年的订单都可在“我的订单-全部”中查看。", False),
    ("bulk_order", "orders", ["place a bulk order", "buy in large quantities for my company"], ["批量采购", "为公司大量下单"], "For orders over 50 units, contact our business team for volume pricing.", "单笔超过50件请联系企业采购团队获取批量价格。", False),
    ("return_policy", "returns", ["return an item", "send back something I bought"], ["退货", "退回买的东西"], "Unused items can be returned within 7 days of delivery from My Orders.", "商品签收7天内未使用可在“我的订单”中申请退货。", True),
    ("refund_time", "returns", ["know when I get my refund", "check how long a refund takes"], ["知道退款什么时候到账", "查询退款多久到账"], "Refunds reach your original payment method 1-3 working days after we receive the return.", "收到退货后1-3个工作日内退款将原路返回。", False),
    ("exchange_size", "returns", ["exchange for a different size", "swap the size of my item"], ["换尺码", "更换商品尺码"], "Size exchanges are free within 7 days; pick the new size when you request the exchange.", "7天内可免费换尺码，申请换货时选择新尺码即可。", True),
    ("damaged_item", "returns", ["report a damaged item", "return something that arrived broken"], ["反馈商品损坏", "退回收到时就坏了的商品"], "Please send a photo of the damage in My Orders within 48 hours; we will replace or refund it.", "请在48小时内在“我的订单”中上传破损照片，我们将为您换货或退款。", True),
    ("return_shipping_cost", "returns", ["avoid paying for return shipping", "know who pays the return postage"], ["免退货运费", "了解退货运费谁承担"], "Returns for quality issues are free; otherwise a 10 CNY return fee applies.", "质量问题退货免运费，其他原因需承担10元退货运费。", False),
    ("refund_not_received", "returns", ["chase a refund I have not received", "find my missing refund"], ["催退款", "查找没收到的退款"], "If 5 working days have passed, contact us with the order number and we will trace the refund.", "如超过5个工作日仍未到账，请提供订单号联系我们核查。", False),
    ("return_label", "returns", ["print a return label", "get a return shipping label"], ["打印退货面单", "获取退货快递单"], "A prepaid return label is generated when your return is approved; print it from My Orders.", "退货申请通过后会生成预付退货面单，可在“我的订单”中打印。", False),
    ("warranty", "returns", ["claim the warranty", "repair a faulty product under warranty"], ["申请保修", "保修维修故障商品"], "Electronics carry a one-year warranty; start a claim in My Orders with the serial number.", "电子产品享受一年保修，请在“我的订单”中提交序列号申请保修。", True),
    ("payment_methods", "payment", ["pay with Alipay or WeChat Pay", "pay by credit card"], ["用支付宝或微信支付", "用信用卡付款"], "We accept Alipay, WeChat Pay, UnionPay and major credit cards.", "支持支付宝、微信支付、银联及主流信用卡。", False),
    ("payment_failed", "payment", ["fix a failed payment", "pay after my card was declined"], ["解决支付失败", "在卡被拒后完成支付"], "Check the card limit or try another method; a failed payment is never charged.", "请检查银行卡额度或更换支付方式，支付失败不会扣款。", False),
    ("installments", "payment", ["pay in installments", "split the payment into monthly parts"], ["分期付款", "分几个月付款"], "Orders over 600 CNY can be paid in 3, 6 or 12 interest-free installments.", "满600元可享3、6、12期免息分期。", False),
    ("double_charge", "payment", ["get money back for a double charge", "fix being charged twice"], ["处理重复扣款", "退回多扣的钱"], "Duplicate charges are released automatically within 3 working days; contact us if not.", "重复扣款会在3个工作日内自动退回，如未退回请联系我们。", False),
    ("cash_on_delivery", "payment", ["pay cash on delivery", "pay when the parcel arrives"], ["货到付款", "收货时再付钱"], "Cash on delivery is available for orders under 2000 CNY in mainland China.", "中国大陆地区2000元以下订单支持货到付款。", False),
    ("currency", "payment", ["pay in another currency", "see prices in US dollars"], ["用其他币种支付", "查看美元价格"], "Prices are in CNY; your card issuer converts at its own rate.", "商品以人民币计价，外币卡由发卡行按其汇率结算。", False),
    ("gift_card", "payment", ["use a gift card", "redeem a gift card balance"], ["使用礼品卡", "兑换礼品卡余额"], "Enter the gift card code at checkout; the balance is applied before other payments.", "结算时输入礼品卡卡号，余额将优先抵扣。", False),
    ("reset_password", "account", ["reset my password", "recover my account after forgetting the password"], ["重置密码", "忘记密码后找回账号"], "Tap Forgot password on the login page and follow the verification code sent to you.", "在登录页点击“忘记密码”，按验证码提示重置即可。", False),
    ("change_phone", "account", ["change the phone number on my account", "update my mobile number"], ["更换绑定手机号", "修改账号手机号"], "Go to Account > Security to change the linked phone number after verification.", "在“账号-安全设置”中验证身份后即可更换绑定手机号。", False),
    ("delete_account", "account", ["delete my account", "close my account and remove my data"], ["注销账号", "注销账户并删除数据"], "Request deletion in Account > Privacy; your data is erased within 15 days.", "在“账号-隐私”中申请注销，数据将在15天内删除。", False),
    ("privacy_data", "account", ["download my personal data", "see what data you keep about me"], ["下载我的个人数据", "查看你们保存了我哪些数据"], "Export your data from Account > Privacy; we send a download link within 48 hours.", "在“账号-隐私”中申请导出，48小时内发送下载链接。", False),
    ("unsubscribe", "account", ["stop marketing messages", "unsubscribe from promotional emails"], ["退订营销短信", "取消订阅促销邮件"], "Turn off marketing messages in Account > Notifications at any time.", "可随时在“账号-通知设置”中关闭营销消息。", False),
    ("login_problem", "account", ["log in when the app keeps failing", "fix a login error"], ["解决登录失败", "处理登录报错"], "Update the app and clear its cache; if it still fails, log in with a verification code.", "请更新App并清除缓存，仍无法登录可使用验证码登录。", False),
    ("membership", "account", ["join the membership programme", "become a VIP member"], ["加入会员", "成为VIP会员"], "Membership costs 88 CNY a year and includes free shipping and member prices.", "会员年费88元，享全场包邮和会员专享价。", False),
    ("coupon_use", "promotions", ["use a coupon", "apply a discount code"], ["使用优惠券", "用折扣码"], "Select the coupon at checkout; only one store coupon applies per order.", "结算时选择优惠券即可，每单限用一张店铺券。", False),
    ("coupon_expired", "promotions", ["use an expired coupon", "extend a coupon that expired"], ["使用过期优惠券", "延长过期的优惠券"], "Expired coupons cannot be restored, but new coupons are issued every week.", "过期优惠券无法恢复，每周都会发放新的优惠券。", False),
    ("price_drop", "promotions", ["get the difference back after a price drop", "claim price protection"], ["申请降价补差", "申请价格保护"], "If the price drops within 7 days of purchase, claim the difference in My Orders.", "购买后7天内降价，可在“我的订单”中申请价保补差。", True),
    ("flash_sale", "promotions", ["join the flash sale", "find out when the next sale starts"], ["参加限时抢购", "知道下次促销什么时候开始"], "Flash sales start daily at 10:00 and 20:00; set a reminder on the sale page.", "限时抢购每天10点和20点开始，可在活动页设置提醒。", False),
    ("points", "promotions", ["use my reward points", "earn loyalty points"], ["使用积分", "赚取积分"], "Every 1 CNY spent earns 1 point; 100 points are worth 1 CNY at checkout.", "每消费1元积1分，结算时100积分抵1元。", False),
    ("referral", "promotions", ["invite a friend for a reward", "get the referral bonus"], ["邀请好友得奖励", "领取推荐奖励"], "Share your invite link; you both get a 20 CNY coupon after your friend's first order.", "分享邀请链接，好友首单完成后双方各得20元优惠券。", False),
    ("product_size_guide", "product", ["find the right size", "check the size chart"], ["选择合适的尺码", "查看尺码表"], "Each product page has a size chart; if you are between sizes we suggest the larger one.", "每个商品页都有尺码表，介于两个尺码之间建议选大一码。", True),
    ("product_authentic", "product", ["check that the product is genuine", "verify authenticity"], ["确认商品是正品", "验证真伪"], "All products come from brands or authorised distributors and carry an authenticity code.", "所有商品均来自品牌或授权经销商，并附防伪码。", True),
    ("product_restock", "product", ["know when an item is back in stock", "get notified when it is restocked"], ["知道商品什么时候补货", "到货提醒"], "Tap Notify me on the product page and we will message you when it is back.", "在商品页点击“到货提醒”，补货后会通知您。", True),
    ("product_usage", "product", ["use the product correctly", "find the instructions"], ["正确使用商品", "找到使用说明"], "Instructions are on the product page under Details and in the box.", "使用说明在商品页“详情”中，包装内也附有说明书。", True),
    ("product_expiry", "product", ["check the expiry date", "know the shelf life"], ["查看保质期", "了解有效期"], "Food and beauty products ship with at least 6 months of shelf life left.", "食品和美妆商品发货时保质期至少剩余6个月。", True),
    ("product_compatibility", "product", ["check if it works with my phone", "know if the charger is compatible"], ["确认是否适配我的手机", "了解充电器是否兼容"], "Compatibility is listed on the product page; USB-C accessories work with all USB-C phones.", "商品页列有适配型号，USB-C配件适用于所有USB-C接口手机。", True),
]
