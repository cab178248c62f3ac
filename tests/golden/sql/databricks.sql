WITH ev AS (
  SELECT
    CAST(`visitor_id` AS STRING) AS visitor_id,
    UNIX_MICROS(CAST(`timestamp` AS TIMESTAMP)) AS ts,
    CAST(`event_type` AS STRING) AS event_type,
    CAST(`order_id` AS STRING) AS order_id,
    CAST(NULL AS DOUBLE) AS order_value,
    CAST(`referrer` AS STRING) AS referrer,
    CAST(`url` AS STRING) AS url,
    CAST(`utm_campaign` AS STRING) AS utm_campaign
  FROM shop.events
), ev_ok AS (
  SELECT
    *,
    CASE
      WHEN ENDSWITH(derived_0, '.')
      THEN SUBSTRING(derived_0, 1, LENGTH(derived_0) - 1)
      ELSE derived_0
    END AS derived_1,
    CASE
      WHEN LOCATE('%', derived_2) > 0 OR LOCATE('+', derived_2) > 0
      THEN CASE WHEN LOCATE('', derived_2) > 0 OR LOCATE('', REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REGEXP_REPLACE(REPLACE(derived_2, '+', ' '), '%([0-9A-Fa-f][0-9A-Fa-f])', '$1'), '20', ' '), '21', '!'), '22', '"'), '23', '#'), '24', '$'), '25', '%'), '26', '&'), '27', '\''), '28', '('), '29', ')'), '2A', '*'), '2a', '*'), '2B', '+'), '2b', '+'), '2C', ','), '2c', ','), '2D', '-'), '2d', '-'), '2E', '.'), '2e', '.'), '2F', '/'), '2f', '/'), '30', '0'), '31', '1'), '32', '2'), '33', '3'), '34', '4'), '35', '5'), '36', '6'), '37', '7'), '38', '8'), '39', '9'), '3A', ':'), '3a', ':'), '3B', ';'), '3b', ';'), '3C', '<'), '3c', '<'), '3D', '='), '3d', '='), '3E', '>'), '3e', '>'), '3F', '?'), '3f', '?'), '40', '@'), '41', 'A'), '42', 'B'), '43', 'C'), '44', 'D'), '45', 'E'), '46', 'F'), '47', 'G'), '48', 'H'), '49', 'I'), '4A', 'J'), '4a', 'J'), '4B', 'K'), '4b', 'K'), '4C', 'L'), '4c', 'L'), '4D', 'M'), '4d', 'M'), '4E', 'N'), '4e', 'N'), '4F', 'O'), '4f', 'O'), '50', 'P'), '51', 'Q'), '52', 'R'), '53', 'S'), '54', 'T'), '55', 'U'), '56', 'V'), '57', 'W'), '58', 'X'), '59', 'Y'), '5A', 'Z'), '5a', 'Z'), '5B', '['), '5b', '['), '5C', '\\'), '5c', '\\'), '5D', ']'), '5d', ']'), '5E', '^'), '5e', '^'), '5F', '_'), '5f', '_'), '60', '`'), '61', 'a'), '62', 'b'), '63', 'c'), '64', 'd'), '65', 'e'), '66', 'f'), '67', 'g'), '68', 'h'), '69', 'i'), '6A', 'j'), '6a', 'j'), '6B', 'k'), '6b', 'k'), '6C', 'l'), '6c', 'l'), '6D', 'm'), '6d', 'm'), '6E', 'n'), '6e', 'n'), '6F', 'o'), '6f', 'o'), '70', 'p'), '71', 'q'), '72', 'r'), '73', 's'), '74', 't'), '75', 'u'), '76', 'v'), '77', 'w'), '78', 'x'), '79', 'y'), '7A', 'z'), '7a', 'z'), '7B', '{'), '7b', '{'), '7C', '|'), '7c', '|'), '7D', '}'), '7d', '}'), '7E', '~'), '7e', '~')) > 0 THEN CAST(RAISE_ERROR('a UTM read from a URL holds a percent-encoded character beyond printable ASCII, which the SQL engines do not decode; run it with the polars engine') AS STRING) ELSE REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REGEXP_REPLACE(REPLACE(derived_2, '+', ' '), '%([0-9A-Fa-f][0-9A-Fa-f])', '$1'), '20', ' '), '21', '!'), '22', '"'), '23', '#'), '24', '$'), '25', '%'), '26', '&'), '27', '\''), '28', '('), '29', ')'), '2A', '*'), '2a', '*'), '2B', '+'), '2b', '+'), '2C', ','), '2c', ','), '2D', '-'), '2d', '-'), '2E', '.'), '2e', '.'), '2F', '/'), '2f', '/'), '30', '0'), '31', '1'), '32', '2'), '33', '3'), '34', '4'), '35', '5'), '36', '6'), '37', '7'), '38', '8'), '39', '9'), '3A', ':'), '3a', ':'), '3B', ';'), '3b', ';'), '3C', '<'), '3c', '<'), '3D', '='), '3d', '='), '3E', '>'), '3e', '>'), '3F', '?'), '3f', '?'), '40', '@'), '41', 'A'), '42', 'B'), '43', 'C'), '44', 'D'), '45', 'E'), '46', 'F'), '47', 'G'), '48', 'H'), '49', 'I'), '4A', 'J'), '4a', 'J'), '4B', 'K'), '4b', 'K'), '4C', 'L'), '4c', 'L'), '4D', 'M'), '4d', 'M'), '4E', 'N'), '4e', 'N'), '4F', 'O'), '4f', 'O'), '50', 'P'), '51', 'Q'), '52', 'R'), '53', 'S'), '54', 'T'), '55', 'U'), '56', 'V'), '57', 'W'), '58', 'X'), '59', 'Y'), '5A', 'Z'), '5a', 'Z'), '5B', '['), '5b', '['), '5C', '\\'), '5c', '\\'), '5D', ']'), '5d', ']'), '5E', '^'), '5e', '^'), '5F', '_'), '5f', '_'), '60', '`'), '61', 'a'), '62', 'b'), '63', 'c'), '64', 'd'), '65', 'e'), '66', 'f'), '67', 'g'), '68', 'h'), '69', 'i'), '6A', 'j'), '6a', 'j'), '6B', 'k'), '6b', 'k'), '6C', 'l'), '6c', 'l'), '6D', 'm'), '6d', 'm'), '6E', 'n'), '6e', 'n'), '6F', 'o'), '6f', 'o'), '70', 'p'), '71', 'q'), '72', 'r'), '73', 's'), '74', 't'), '75', 'u'), '76', 'v'), '77', 'w'), '78', 'x'), '79', 'y'), '7A', 'z'), '7a', 'z'), '7B', '{'), '7b', '{'), '7C', '|'), '7c', '|'), '7D', '}'), '7d', '}'), '7E', '~'), '7e', '~') END
      ELSE derived_2
    END AS derived_3
  FROM (
    SELECT
      *,
      REGEXP_REPLACE(
        TRANSLATE(
          NULLIF(
            REGEXP_EXTRACT(referrer, '(?iu)^(?:[a-z][a-z0-9+.\\-]*://|//)?(?:[^@/?#]*@)?([^:/?#]+)'),
            ''
          ),
          'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
          'abcdefghijklmnopqrstuvwxyz'
        ),
        '^www[.]',
        ''
      ) AS derived_0,
      CASE
        WHEN LOCATE('utm_campaign=', url) = 0
        THEN NULL
        WHEN LENGTH(url) - LENGTH(REPLACE(url, 'utm_campaign=', '')) = 13
        AND LOCATE('utm_campaign=', url) - 1 > 0
        AND LOCATE('?', url) > 0
        AND (
          LOCATE('utm_campaign=', url) - 1 = LOCATE('?', url)
          OR (
            SUBSTRING(url, LOCATE('utm_campaign=', url) - 1, 1) = '&'
            AND LOCATE('utm_campaign=', url) - 1 > LOCATE('?', url)
          )
        )
        AND (
          LOCATE('#', url) = 0 OR LOCATE('utm_campaign=', url) - 1 < LOCATE('#', url)
        )
        THEN SUBSTRING(NULLIF(REGEXP_EXTRACT(url, '[?&](utm_campaign=[^&#]*)'), ''), 14)
        ELSE SUBSTRING(NULLIF(REGEXP_EXTRACT(url, '^[^?#]*\\?(?:[^#]*&)?(utm_campaign=[^&#]*)'), ''), 14)
      END AS derived_2
    FROM ev
    WHERE
      NOT ts IS NULL AND ts <= 1782820800000000
  ) AS layer_1
), prof AS (
  SELECT
    visitor_id,
    latitude,
    longitude
  FROM (
    SELECT
      CAST(`visitor_id` AS STRING) AS visitor_id,
      CASE WHEN NOT ISNAN(CAST(`latitude` AS DOUBLE)) THEN CAST(`latitude` AS DOUBLE) END AS latitude,
      CASE
        WHEN NOT ISNAN(CAST(`longitude` AS DOUBLE))
        THEN CAST(`longitude` AS DOUBLE)
      END AS longitude,
      ROW_NUMBER() OVER (PARTITION BY `visitor_id` ORDER BY segtool_row NULLS LAST) AS row_rank
    FROM (
      SELECT
        *,
        MONOTONICALLY_INCREASING_ID() AS segtool_row
      FROM shop.profiles
    ) AS profiles
    WHERE
      NOT `visitor_id` IS NULL
  ) AS ranked
  WHERE
    row_rank = 1
), universe AS (
  SELECT DISTINCT
    visitor_id
  FROM ev_ok
  UNION
  SELECT
    visitor_id
  FROM prof
), per_event AS (
  SELECT
    visitor_id,
    MAX(
      CASE
        WHEN (
          COALESCE((
            LOCATE('facebook', referrer) > 0
          ), FALSE)
          AND NOT (
            COALESCE((
              derived_1 = 'shop.example' OR ENDSWITH(derived_1, '.shop.example')
            ), FALSE)
          )
        )
        THEN 1
        ELSE 0
      END
    ) AS e0,
    MAX(
      CASE
        WHEN COALESCE((
          REGEXP_LIKE(COALESCE(utm_campaign, derived_3), '(?iu)sale')
        ), FALSE)
        THEN 1
        ELSE 0
      END
    ) AS e1,
    MAX(
      CASE
        WHEN COALESCE((
          NOT ts IS NULL AND ts > 1775044800000000
        ), FALSE)
        THEN 1
        ELSE 0
      END
    ) AS e2
  FROM ev_ok
  GROUP BY
    visitor_id
), item_flags AS (
  SELECT
    order_id,
    MAX(CASE WHEN COALESCE((
      brand = 'Nike'
    ), FALSE) THEN 1 ELSE 0 END) AS i0
  FROM (
    SELECT
      CAST(`order_id` AS STRING) AS order_id,
      CAST(`brand` AS STRING) AS brand
    FROM shop.items
    WHERE
      NOT `order_id` IS NULL
  ) AS lines
  GROUP BY
    order_id
), conv AS (
  SELECT
    conversions.visitor_id,
    conversions.order_id,
    conversions.ts,
    conversions.order_value,
    item_flags.i0
  FROM (
    SELECT
      visitor_id,
      order_id,
      ts,
      order_value
    FROM (
      SELECT
        visitor_id,
        order_id,
        ts,
        order_value,
        ROW_NUMBER() OVER (PARTITION BY visitor_id, order_id ORDER BY ts NULLS LAST, order_value NULLS LAST) AS order_rank
      FROM ev_ok
      WHERE
        event_type IN ('conversion') AND NOT order_id IS NULL
    ) AS tracked
    WHERE
      order_rank = 1
    UNION ALL
    SELECT
      visitor_id,
      order_id,
      ts,
      order_value
    FROM ev_ok
    WHERE
      event_type IN ('conversion') AND order_id IS NULL
  ) AS conversions
  LEFT JOIN item_flags
    ON conversions.order_id = item_flags.order_id
), per_conversion AS (
  SELECT
    visitor_id,
    SUM(
      CASE
        WHEN COALESCE((
          NOT ts IS NULL AND ts > 1775044800000000
        ), FALSE)
        THEN 1
        ELSE 0
      END
    ) AS c0,
    MIN(CASE WHEN TRUE THEN ts END) AS c1,
    SUM(CASE WHEN TRUE THEN 1 ELSE 0 END) AS c2,
    MAX(CASE WHEN TRUE THEN ts END) AS c3,
    SUM(CASE WHEN COALESCE(i0, 0) = 1 THEN 1 ELSE 0 END) AS c4
  FROM conv
  GROUP BY
    visitor_id
), q0_events AS (
  SELECT
    visitor_id,
    ts,
    COALESCE(
      (
        (
          COALESCE((
            NOT ts IS NULL AND ts > 1780228800000000
          ), FALSE)
          AND COALESCE((
            event_type = 'add_to_cart'
          ), FALSE)
        )
      ),
      FALSE
    ) AS step_0,
    COALESCE(
      (
        (
          COALESCE((
            NOT ts IS NULL AND ts > 1780228800000000
          ), FALSE)
          AND COALESCE((
            event_type = 'begin_checkout'
          ), FALSE)
        )
      ),
      FALSE
    ) AS step_1,
    COALESCE((
      event_type = 'conversion'
    ), FALSE) AS then_not
  FROM ev_ok
), q0_reached_0 AS (
  SELECT
    visitor_id,
    ts
  FROM q0_events
  WHERE
    step_0
), q0_reached_1 AS (
  SELECT
    visitor_id,
    ts
  FROM (
    SELECT
      visitor_id,
      ts,
      mine,
      MAX(CASE WHEN mine = 0 THEN ts END) OVER (
        PARTITION BY visitor_id
        ORDER BY ts
        RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ) AS other
    FROM (
      SELECT
        visitor_id,
        ts,
        1 AS mine
      FROM (
        SELECT
          visitor_id,
          ts
        FROM q0_events
        WHERE
          step_1
      ) AS kept
      UNION ALL
      SELECT
        visitor_id,
        ts,
        0 AS mine
      FROM q0_reached_0
    ) AS both
  ) AS nearest
  WHERE
    mine = 1 AND (
      NOT other IS NULL AND ts - other <= 3600000000
    )
), q0_done AS (
  SELECT
    visitor_id,
    ts
  FROM (
    SELECT
      visitor_id,
      ts,
      mine,
      MIN(CASE WHEN mine = 0 THEN ts END) OVER (
        PARTITION BY visitor_id
        ORDER BY ts
        RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
      ) AS other
    FROM (
      SELECT
        visitor_id,
        ts,
        1 AS mine
      FROM q0_reached_1
      UNION ALL
      SELECT
        visitor_id,
        ts,
        0 AS mine
      FROM (
        SELECT
          visitor_id,
          ts
        FROM q0_events
        WHERE
          then_not
      ) AS looked_up
    ) AS both
  ) AS following
  WHERE
    mine = 1
    AND ts + 172800000000 <= 1782820800000000
    AND (
      other IS NULL OR other - ts > 172800000000
    )
), per_q0 AS (
  SELECT
    visitor_id,
    1 AS q0
  FROM q0_done
  GROUP BY
    visitor_id
), per_profile AS (
  SELECT
    visitor_id,
    COALESCE(
      (
        (
          12742.0176 * ASIN(
            SQRT(
              (
                (
                  POWER(
                    SIN(
                      (
                        (
                          (
                            CASE WHEN NOT ISNAN(CAST(latitude AS DOUBLE)) THEN CAST(latitude AS DOUBLE) END * 0.017453292519943295
                          ) - 0.7935012035156823
                        ) * 0.5
                      )
                    ),
                    2.0
                  )
                ) + (
                  (
                    0.7013539153453 * COS(
                      (
                        CASE WHEN NOT ISNAN(CAST(latitude AS DOUBLE)) THEN CAST(latitude AS DOUBLE) END * 0.017453292519943295
                      )
                    )
                  ) * (
                    POWER(
                      SIN(
                        (
                          (
                            (
                              CASE WHEN NOT ISNAN(CAST(longitude AS DOUBLE)) THEN CAST(longitude AS DOUBLE) END * 0.017453292519943295
                            ) - 0.16038720614494412
                          ) * 0.5
                        )
                      ),
                      2.0
                    )
                  )
                )
              )
            )
          )
        ) <= 5.000000001
      ),
      FALSE
    ) AS p0
  FROM prof
), visitors AS (
  SELECT
    universe.visitor_id,
    per_event.e0 AS e0,
    per_event.e1 AS e1,
    per_event.e2 AS e2,
    per_q0.q0 AS q0,
    per_conversion.c0 AS c0,
    per_conversion.c1 AS c1,
    per_conversion.c2 AS c2,
    per_conversion.c3 AS c3,
    per_conversion.c4 AS c4,
    per_profile.p0 AS p0,
    (
      CAST(CONV(SUBSTRING(MD5('spring-promo:' || universe.visitor_id), 1, 8), 16, 10) AS BIGINT)
    ) % 10000 AS b0
  FROM universe
  LEFT JOIN per_event
    ON universe.visitor_id = per_event.visitor_id
  LEFT JOIN per_conversion
    ON universe.visitor_id = per_conversion.visitor_id
  LEFT JOIN per_q0
    ON universe.visitor_id = per_q0.visitor_id
  LEFT JOIN per_profile
    ON universe.visitor_id = per_profile.visitor_id
  WHERE
    NOT universe.visitor_id IS NULL
    AND REGEXP_LIKE(universe.visitor_id, '[^\t\n\013\014\r                  　]')
)
SELECT
  visitor_id,
  (
    COALESCE((
      COALESCE(c0, 0.0) = 1.0
    ), FALSE)
  ) AS segment_0,
  (
    COALESCE(e0 = 1, FALSE)
  ) AS segment_1,
  (
    COALESCE(e1 = 1, FALSE)
  ) AS segment_2,
  (
    COALESCE(COALESCE(q0, 0) = 1, FALSE)
  ) AS segment_3,
  (
    COALESCE(p0, FALSE)
  ) AS segment_4,
  (
    COALESCE(e2 = 1, FALSE)
    AND NOT (
      (
        COALESCE(e2 = 1, FALSE) AND COALESCE((
          b0 < 1000.0
        ), FALSE)
      )
    )
    AND NOT (
      (
        COALESCE((
          NOT c1 IS NULL AND c1 > 1780228800000000 AND c1 <= 1782820800000000
        ), FALSE)
      )
    )
  ) AS segment_5,
  (
    COALESCE(
      (
        CASE
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 0.0
            ), FALSE)
            AND COALESCE((
              COALESCE(c2, 0.0) <= 0.0
            ), FALSE)
          )
          THEN 'never_converted'
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 1.0
            ), FALSE)
            AND COALESCE((
              COALESCE(c2, 0.0) <= 1.0
            ), FALSE)
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END >= 0.0
              ),
              FALSE
            )
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END <= 90.0
              ),
              FALSE
            )
          )
          THEN 'one_time_buyer'
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 2.0
            ), FALSE)
            AND COALESCE((
              COALESCE(c2, 0.0) <= 3.0
            ), FALSE)
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END >= 0.0
              ),
              FALSE
            )
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END <= 90.0
              ),
              FALSE
            )
          )
          THEN 'promising'
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 4.0
            ), FALSE)
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END >= 0.0
              ),
              FALSE
            )
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END <= 90.0
              ),
              FALSE
            )
          )
          THEN 'loyal'
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 1.0
            ), FALSE)
            AND COALESCE((
              COALESCE(c2, 0.0) <= 3.0
            ), FALSE)
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END >= 91.0
              ),
              FALSE
            )
          )
          THEN 'sleeper'
          WHEN (
            COALESCE((
              COALESCE(c2, 0.0) >= 4.0
            ), FALSE)
            AND COALESCE(
              (
                CASE
                  WHEN (
                    1782820800000000 - c3
                  ) < 0
                  THEN -(
                    (
                      86400000000 - 1 - (
                        1782820800000000 - c3
                      )
                    ) DIV 86400000000
                  )
                  ELSE (
                    1782820800000000 - c3
                  ) DIV 86400000000
                END >= 91.0
              ),
              FALSE
            )
          )
          THEN 'red_alert'
          ELSE NULL
        END = 'red_alert'
      ),
      FALSE
    )
    AND COALESCE((
      COALESCE(c4, 0.0) >= 1.0
    ), FALSE)
  ) AS segment_6
FROM visitors
ORDER BY
  visitor_id
